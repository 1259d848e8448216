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


def test_a_typed_tool_failure_raises_variable_limit_exceeded_with_its_fields():
    from snakepit_bridge import VariableLimitExceeded
    from snakepit_bridge.session import ToolCalls, ToolError, ToolNotFound

    tools = ToolCalls(lambda message, attachments: None)
    limited = tools.start("snakepit.variables.set", ["big", "x"], {}, "s1")
    tools.resolve({"id": 1, "ok": False, "error": {
        "type": "VariableLimitExceeded", "message": "over the cap", "scope": "bridge",
        "limit_bytes": 8388608, "name": "big"}})
    with pytest.raises(VariableLimitExceeded) as raised:
        limited.result()
    assert isinstance(raised.value, ToolError)
    assert (raised.value.scope, raised.value.limit_bytes, raised.value.name) == ("bridge", 8388608, "big")
    assert str(raised.value) == "over the cap"

    # Untyped failures keep their old classes.
    missing = tools.start("nope", [], {}, "s1")
    tools.resolve({"id": 2, "ok": False, "error": {"message": "ToolNotFound: no tool named 'nope'"}})
    with pytest.raises(ToolNotFound):
        missing.result()
    failed = tools.start("boom", [], {}, "s1")
    tools.resolve({"id": 3, "ok": False, "error": {"message": "the database is down"}})
    with pytest.raises(ToolError) as plain:
        failed.result()
    assert type(plain.value) is ToolError


def test_session_id_is_read_only_and_a_session_object_of_another_session_is_not_sent():
    """The host decides a tool call's session from its call; the Python side only avoids
    confusion: ``id`` cannot be assigned, and a session object used in a call of another session
    raises ToolError instead of sending (the host would act for the call's session)."""
    from snakepit_bridge.context import CallContext, current_call
    from snakepit_bridge.session import Session, ToolCalls, ToolError

    sent = []
    tools = ToolCalls(lambda message, attachments: sent.append(message))
    session = Session("a", {}, tools, lambda m, a: None)
    with pytest.raises(AttributeError):
        session.id = "victim"
    assert session.id == "a"

    token = current_call.set(CallContext(7, "b"))
    try:
        with pytest.raises(ToolError, match="session 'a'.*call 7 of session 'b'"):
            session.variables["x"] = 1
        assert sent == []
        current_call.set(CallContext(7, "a"))
        tools.start("t", [], {}, "a")
        assert [(m["call_id"], m["session_id"]) for m in sent] == [(7, "a")]
    finally:
        current_call.reset(token)
