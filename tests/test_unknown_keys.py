from alerts.core.unknown_keys import unknown_keys_message


def test_known_keys_pass() -> None:
    assert unknown_keys_message(["title", "countries"], ["title", "countries", "topics"]) is None


def test_misspelt_key_named_with_closest_known() -> None:
    message = unknown_keys_message(["title", "countires"], ["title", "countries", "topics"])
    assert message is not None
    assert 'unknown key "countires" (did you mean "countries"?)' in message


def test_unrelated_key_named_without_guess() -> None:
    message = unknown_keys_message(["zzz"], ["title", "countries"])
    assert message is not None
    assert 'unknown key "zzz"' in message and "did you mean" not in message
