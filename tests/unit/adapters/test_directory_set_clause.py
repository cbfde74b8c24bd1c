"""The partial-update builder every directory UPDATE uses: only allowed columns, values as
parameters, `$1` left for the row id."""

from gochat.adapters.postgres.directory import base


def test_only_allowed_columns_present_in_the_changes_in_allowed_order() -> None:
    clause, values = base.set_clause(
        ("name", "topic", "position"), {"position": 3, "name": "general", "owner": 9}
    )
    assert clause == "name = $2, position = $3"
    assert values == ["general", 3]


def test_a_column_name_from_the_request_never_reaches_the_sql() -> None:
    clause, values = base.set_clause(("name",), {"name = 'x'; DROP TABLE users; --": 1})
    assert (clause, values) == ("", [])


def test_none_is_a_value_to_set_not_an_absent_change() -> None:
    assert base.set_clause(("topic",), {"topic": None}) == ("topic = $2", [None])


def test_first_parameter_number_can_move() -> None:
    assert base.set_clause(("a", "b"), {"a": 1, "b": 2}, first_param=3)[0] == "a = $3, b = $4"
