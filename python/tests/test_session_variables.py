"""session.variables: a mapping whose every access is a reserved host tool call."""
import pytest


def test_session_variables_go_through_reserved_host_tools():
    from snakepit_bridge.session import HostVariables, VARIABLES_TOOL, ToolError

    calls = []
    store = {"a": 1}

    class FakeSession:
        id = "s1"

        def call_tool(self, name, *args):
            calls.append(name)
            op = name[len(VARIABLES_TOOL):]
            if op == "get":
                return [args[0] in store, store.get(args[0])]
            if op == "set":
                store[args[0]] = args[1]
                return None
            if op == "delete":
                return store.pop(args[0], None) is not None
            return [[k, v] for k, v in store.items()]

    variables = HostVariables(FakeSession())
    assert variables["a"] == 1 and variables.get("missing") is None
    variables["b"] = [1, 2]
    assert variables.to_dict() == {"a": 1, "b": [1, 2]}
    del variables["a"]
    with pytest.raises(KeyError):
        del variables["a"]
    assert set(calls) == {VARIABLES_TOOL + op for op in ("get", "set", "entries", "delete")}

    class NoSession(FakeSession):
        id = None

    with pytest.raises(ToolError):
        HostVariables(NoSession())["a"]
