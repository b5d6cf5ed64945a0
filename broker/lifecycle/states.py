"""The version state machine: which step moves a version from which state to which.

Kept as data so the API, the CLI and the tests all read the same table, and an illegal step fails
with the same 409 ``INVALID_TRANSITION`` wherever it is attempted.
"""

from __future__ import annotations

from enum import StrEnum

from broker.lifecycle.errors import InvalidTransition


class State(StrEnum):
    DRAFT = "draft"
    PROPOSED = "proposed"
    APPROVED = "approved"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    PROPOSE = "propose"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    ACTIVATE = "activate"
    SUPERSEDE = "supersede"  # never requested directly: a side effect of another activation


# (action, from-state) -> to-state. Re-activating a superseded version is allowed because it was
# approved before (that is what makes one-step rollback need no second approval).
TRANSITIONS: dict[tuple[Action, State], State] = {
    (Action.PROPOSE, State.DRAFT): State.PROPOSED,
    (Action.WITHDRAW, State.DRAFT): State.WITHDRAWN,
    (Action.APPROVE, State.PROPOSED): State.APPROVED,
    (Action.REJECT, State.PROPOSED): State.REJECTED,
    (Action.WITHDRAW, State.PROPOSED): State.WITHDRAWN,
    (Action.WITHDRAW, State.APPROVED): State.WITHDRAWN,
    (Action.ACTIVATE, State.APPROVED): State.ACTIVE,
    (Action.ACTIVATE, State.SUPERSEDED): State.ACTIVE,
    (Action.SUPERSEDE, State.ACTIVE): State.SUPERSEDED,
}


def allowed_actions(state: State) -> list[str]:
    return sorted(a.value for (a, s) in TRANSITIONS if s == state and a != Action.SUPERSEDE)


def next_state(action: Action, state: State, version_id: str = "") -> State:
    """The state after ``action``; InvalidTransition (409) if the table has no such step."""
    target = TRANSITIONS.get((action, state))
    if target is None:
        raise InvalidTransition(
            f"cannot {action.value} policy version {version_id[:12] or '?'} in state {state.value!r}",
            details={
                "version_id": version_id,
                "state": state.value,
                "action": action.value,
                "allowed_actions": allowed_actions(state),
            },
        )
    return target
