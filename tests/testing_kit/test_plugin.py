"""The plugin as a user meets it: a project with its app folder, one line in ``conftest.py``, the
app folder in the ini options, and test files that import the app's modules."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.apps import write_app
from tests.testing_kit.app import FILES

USER_TESTS = """
    import pytest

    from livebase import AppError
    from myapp import messages, notes


    def test_send_and_read(livebase_app):
        t = livebase_app
        sub = t.subscribe(messages.list, {"channel": "general"})
        assert sub.value == []
        alice = t.as_user("alice", name="Alice")
        alice.mutation(messages.send, {"channel": "general", "body": "hi"})
        assert sub.value == ["hi"]
        assert alice.query(messages.mine) == ["hi"]
        with pytest.raises(AppError) as refused:
            t.anonymous.query(messages.mine)
        assert refused.value.data == {"code": "NotSignedIn"}


    def test_reminders(livebase_app):
        t = livebase_app
        t.mutation(notes.remind, {"text": "later", "seconds": 30})
        assert t.advance(seconds=30) == 2  # the reminder, and the cron's first tick
        assert t.query(notes.texts) == ["later"]


    def test_starts_clean(livebase_app):
        assert livebase_app.query(messages.list, {"channel": "general"}) == []
        assert livebase_app.scheduled() == []
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    write_app(pytester.path / "myapp", FILES)
    pytester.makeconftest('pytest_plugins = ["livebase.testing"]')
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_myapp.py").write_text(textwrap.dedent(USER_TESTS))
    return pytester


def test_a_users_project(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        livebase_app_dir = "myapp"
        filterwarnings = ["error"]
        """
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_app_folder_must_be_named(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIVEBASE_APP_DIR", raising=False)
    result = project.runpytest("-p", "no:cacheprovider", "-k", "starts_clean")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*livebase_app needs the app folder: set `livebase_app_dir*"])

    monkeypatch.setenv("LIVEBASE_APP_DIR", str(project.path / "myapp"))
    result = project.runpytest("-p", "no:cacheprovider", "-k", "starts_clean")
    result.assert_outcomes(passed=1)
