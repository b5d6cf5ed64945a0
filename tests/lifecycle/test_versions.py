"""Content-addressed versions, sources (directory, git) and the state machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from broker.lifecycle.errors import InvalidPolicySet, InvalidTransition
from broker.lifecycle.files import PolicySet, merged_data, read_directory, read_git
from broker.lifecycle.states import Action, State, next_state
from tests.lifecycle.conftest import ALICE, Env, shipped_pack

MOD = "package p\n\nimport rego.v1\n\nallow if input.x == 1\n"


def test_id_is_content_address_independent_of_order_and_metadata() -> None:
    a = PolicySet.of({"b.rego": MOD, "a/data.json": "{}"})
    b = PolicySet.of({"a/data.json": "{}", "b.rego": MOD})
    assert a.version_id == b.version_id and len(a.version_id) == 64
    assert PolicySet.of({"b.rego": MOD + "\n"}).version_id != a.version_id
    # Renaming a file changes the id even with identical content.
    assert PolicySet.of({"c.rego": MOD, "a/data.json": "{}"}).version_id != a.version_id


@pytest.mark.parametrize("path", ["../x.rego", "/abs.rego", "a/../b.rego", "notes.txt", "a\\b.rego", ""])
def test_bad_paths_refused(path: str) -> None:
    with pytest.raises(InvalidPolicySet):
        PolicySet.of({"ok.rego": MOD, path: MOD})


def test_needs_a_policy_module() -> None:
    with pytest.raises(InvalidPolicySet, match="at least one policy module"):
        PolicySet.of({"only_test.rego": MOD})


def test_policy_data_is_placed_like_a_bundle_and_may_not_touch_the_registry() -> None:
    pset = PolicySet.of({"p.rego": MOD, "tollgate/limits/data.json": '{"max": 3}', "data.json": '{"x": {"y": 1}}'})
    assert pset.data == {"tollgate": {"limits": {"max": 3}}, "x": {"y": 1}}
    merged = merged_data({"tollgate": {"registry": {"schema": 1}}}, pset.data)
    assert merged["tollgate"] == {"registry": {"schema": 1}, "limits": {"max": 3}}
    with pytest.raises(InvalidPolicySet, match="registry"):
        PolicySet.of({"p.rego": MOD, "tollgate/registry/data.json": "{}"})
    with pytest.raises(InvalidPolicySet, match="JSON"):
        PolicySet.of({"p.rego": MOD, "data.json": "{nope"})


def test_read_directory_takes_rego_and_data_and_lists_the_rest(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "p.rego").write_text(MOD)
    (tmp_path / "pkg" / "p_test.rego").write_text("package p_test\n")
    (tmp_path / "README.md").write_text("hi")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.rego").write_text(MOD)
    pset, ignored = read_directory(tmp_path)
    assert sorted(pset.files) == ["pkg/p.rego", "pkg/p_test.rego"]
    assert ignored == ["README.md"]
    assert list(pset.modules) == ["pkg/p.rego"] and list(pset.tests) == ["pkg/p_test.rego"]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        capture_output=True,
        check=True,
        text=True,
    )
    return done.stdout.strip()


def test_read_git_takes_the_commit_not_the_dirty_work_tree(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.rego").write_text(MOD)
    (tmp_path / "other.rego").write_text(MOD)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    commit = _git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "policies" / "p.rego").write_text(MOD + "# uncommitted\n")
    pset, src = read_git(tmp_path, subdir="policies")
    assert pset.files == {"p.rego": MOD}
    assert src.commit == commit and src.dirty and src.subdir == "policies"


def test_state_machine_table() -> None:
    assert next_state(Action.PROPOSE, State.DRAFT) == State.PROPOSED
    assert next_state(Action.ACTIVATE, State.SUPERSEDED) == State.ACTIVE
    with pytest.raises(InvalidTransition) as info:
        next_state(Action.APPROVE, State.DRAFT, "abc")
    assert info.value.status == 409 and info.value.code == "INVALID_TRANSITION"
    assert info.value.details["allowed_actions"] == ["propose", "withdraw"]
    for terminal in (State.REJECTED, State.WITHDRAWN):
        for action in Action:
            with pytest.raises(InvalidTransition):
                next_state(action, terminal)


def test_push_is_idempotent_and_round_trips(env: Env) -> None:
    pset = shipped_pack()
    record, created = env.service.push(pset, ALICE, message="first")
    assert created and record.state == State.DRAFT and record.id == pset.version_id
    assert record.validation is not None and record.validation["ok"], record.validation
    again, created_again = env.service.push(pset, ALICE, message="again")
    assert not created_again and again.id == record.id and again.message == "first"
    assert env.service.files(record.id[:10]).files == pset.files
    assert [v.id for v in env.service.versions()] == [record.id]
    assert env.actions() == ["push"]
