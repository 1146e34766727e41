from connector.expensify import (
    ExpensifyAuthError,
    ExpensifyError,
    ExpensifyPermanentError,
    ExpensifyProtocolError,
    ExpensifyTransientError,
)


def test_kinds_come_from_the_type():
    assert ExpensifyTransientError("x", retry_after=2.5).kind == "transient"
    assert ExpensifyTransientError("x", retry_after=2.5).retry_after == 2.5
    assert ExpensifyPermanentError("x").kind == "permanent"
    assert ExpensifyAuthError("x").kind == "auth"
    assert ExpensifyProtocolError("x").kind == "permanent"
    assert isinstance(ExpensifyProtocolError("x"), ExpensifyPermanentError)
    assert all(
        issubclass(cls, ExpensifyError)
        for cls in (ExpensifyTransientError, ExpensifyPermanentError, ExpensifyAuthError)
    )


def test_message_and_repr_are_the_plain_sentence():
    error = ExpensifyAuthError("Expensify refused the partner credentials.")
    assert str(error) == "Expensify refused the partner credentials."
    assert repr(error) == "ExpensifyAuthError('Expensify refused the partner credentials.')"
