# The watchman of a list of process groups: the host's (src/worker/groupWatchman.ts) and a fork
# server template's (snakepit_bridge/procgroup.py). It keeps the groups of "+ pgid" lines and
# forgets those of "- pgid"; when its stdin ends (whoever held the pipe's write end is gone) it
# SIGKILLs each group left, then its own: a template's group, or, for the host's watchman, which
# runs in a session of its own, itself.
live=' '
while read -r op pgid; do
  case $op in
    +) live="$live$pgid " ;;
    -) case "$live" in *" $pgid "*) live="${live%% $pgid *} ${live#* $pgid }" ;; esac ;;
  esac
done
for pgid in $live; do kill -s KILL -- "-$pgid" 2>/dev/null; done
kill -s KILL 0
