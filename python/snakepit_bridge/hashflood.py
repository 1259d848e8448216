"""Sets and dicts whose keys hash alike, refused before they are built.

Python hashes ints (and floats, and tuples of them) without a seed, so a caller can send keys
that all hash alike (ints that are multiples of 2**61 - 1, tuples ending in one), and building
the set or dict compares each key with every one before it of its hash, item by item: 22 000
such ints, 1 MB, held a worker's reading thread 2.7 s, and 2 047 such tuples of 500 items, 7 s.
Strings are hashed with a seed and spread. Used by the codec (received ``set`` and ``map``
values) and by ``customtypes.resolve`` (the same, once pending ``ext`` keys are plain values).
"""
from .errors import SerializationError

#: Below this many keys a set or dict of scalars is built without a look at its hashes (a full
#: chain of equal hashes costs a few ms).
HASH_FLOOD_MIN_KEYS = 2048
#: Past this many keys, a random sample of this size is hashed instead of every key.
_HASH_SAMPLE = 16384
#: How many times the comparisons building a set or dict may exceed the items of its keys (spread
#: keys: about once), and the comparisons any set or dict may take whatever its keys.
_MAX_CHAIN_COST_PER_ITEM = 64
_MIN_CHAIN_BUDGET = 4_000_000


def _key_items(key):
    """What comparing ``key`` with another key of its hash may walk: 1, or a tuple's (or
    frozenset's) items, nested ones included."""
    t = type(key)
    if t is tuple or t is frozenset:
        return 1 + sum(_key_items(x) for x in key)
    return 1


def refuse_hash_flood(keys, tag):
    """Raise :class:`SerializationError` (a hash flood) for keys whose hashes are mostly equal
    (see the module docstring). The comparisons are counted, each
    weighted by the items its keys hold (``_key_items``), against ``_MAX_CHAIN_COST_PER_ITEM``
    times the keys' items. Strings are hashed with a seed and spread. Past ``_HASH_SAMPLE`` keys,
    a random sample is judged (each pair in it stands for (n / s)**2 pairs of the whole)."""
    n = len(keys)
    if n < 2:
        return
    if n < HASH_FLOOD_MIN_KEYS and not any(type(k) is tuple or type(k) is frozenset for k in keys):
        return
    if n <= 4 * _HASH_SAMPLE:
        sample = keys
        scale = 1.0
    else:
        import random
        sample = [keys[random.randrange(n)] for _ in range(_HASH_SAMPLE)]
        scale = n / _HASH_SAMPLE
    try:
        counts = {}
        items = {}
        total = 0
        for k in sample:
            h = hash(k)
            w = _key_items(k)
            counts[h] = counts.get(h, 0) + 1
            items[h] = items.get(h, 0) + w
            total += w
    except TypeError:
        return  # an unhashable key: building the set or dict says so, as before
    # Each key of a hash is compared with the others of it: count × their items, per hash.
    cost = sum(c * items[h] for h, c in counts.items() if c > 1) * scale * scale
    if cost > max(_MAX_CHAIN_COST_PER_ITEM * total * scale, _MIN_CHAIN_BUDGET):
        raise SerializationError(
            f"cannot decode a {tag!r} tagged value: its {n} keys hash alike, which takes time "
            "quadratic in their count to build: refused as a hash flood", type_name=tag)
