"""The world: everything derived from a spec before any file is written.

Principals, and per account and region a `Mix` of record templates with their weights
(the principals' own calls, background callers, cross-account calls). It is built from
one RNG in a fixed order, so every worker process builds the same world.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter

from policygen_synth.calls import BACKGROUND, CALLS, CROSS_CALLS, PROFILES, Call
from policygen_synth.principals import (
    BROWSER,
    CLI,
    Ids,
    Principal,
    background_identity,
    make_actors,
    make_role,
    make_user,
    resource_context,
)
from policygen_synth.records import (
    Caller,
    Template,
    build_record,
    compile_template,
    draw_version,
    outcomes,
)
from policygen_synth.spec import GLOBAL_REGION, WINDOW, CorpusSpec, Json

MAX_LAG = 600  # events reach back 10 minutes before their window ends...
LATE_SHARE = 0.7  # ...and most files are delivered one window later: 0-15 minutes of lag
VARIANTS = 2  # templates per (principal, call, outcome): identity, agent, IP, version vary
BACKGROUND_SHARE = 0.12  # records by root, services, federated and external callers
HOME_REGION_BIAS = 0.35  # weight of a principal's calls outside its home region


@dataclass(slots=True)
class Mix:
    """Templates to draw records from, with cumulative weights for `random.choices`."""

    templates: list[Template] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    cum_u64: list[int] = field(default_factory=list)  # cum scaled to [0, 2**64]
    fmts: list[bytes] = field(default_factory=list)
    picks: list[itemgetter] = field(default_factory=list)
    mean_size: float = 0.0

    def add(self, template: Template, weight: float) -> None:
        if weight > 0:
            self.templates.append(template)
            self.weights.append(weight)

    def seal(self) -> None:
        cum = list(accumulate(self.weights))
        total = cum[-1] if cum else 0.0
        self.cum_u64 = [round(c / total * 2**64) for c in cum]
        self.fmts = [t.fmt for t in self.templates]
        self.picks = [t.pick for t in self.templates]
        if total:
            self.mean_size = (
                sum(t.size * w for t, w in zip(self.templates, self.weights, strict=True)) / total
            )


@dataclass(slots=True)
class World:
    """Everything derived from a spec before any file is written; identical in every worker."""

    spec: CorpusSpec
    principals: list[Principal]
    keys: list[tuple[int, str, str, str]]  # (principal index, eventSource, eventName, outcome)
    mixes: dict[tuple[str, str], Mix]
    cross: dict[tuple[str, str, str], Mix]  # (caller account, owner account, region)
    cross_copies: dict[tuple[str, str, str], list[Template]]  # owner-side copy per template
    windows: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def streams(self) -> list[tuple[str, str]]:
        return [(a, r) for a in self.spec.accounts for r in self.spec.regions]

    @property
    def files_per_stream(self) -> int:
        return len(self.windows)

    def window(self, j: int) -> tuple[int, int, int]:
        """(first event second, end of events, delivery time) of file `j` of every stream."""
        return self.windows[j]


def _windows(spec: CorpusSpec, n: int) -> list[tuple[int, int, int]]:
    """File j of every stream covers one 5-minute slot; slots spread evenly, the last one last.

    Events reach back `MAX_LAG` before the slot ends; most files arrive one slot late.
    """
    slots = spec.days * 86400 // WINDOW
    rng = random.Random(f"{spec.seed}/delivery")
    windows = []
    for j in range(n):
        slot = j * (slots - 1) // (n - 1) if n > 1 else slots - 1
        hi = spec.start_epoch + (slot + 1) * WINDOW
        late = rng.random() < LATE_SHARE
        windows.append((max(spec.start_epoch, hi - MAX_LAG), hi, hi + WINDOW * late))
    return windows


class _Keys:
    """Manifest keys (principal, eventSource, eventName, outcome) numbered as first seen."""

    def __init__(self) -> None:
        self.index: dict[tuple[int, str, str, str], int] = {}

    def __call__(self, principal: int, call: Call, outcome: str) -> int:
        if call.event_type != "AwsApiCall":
            return -1
        return self.index.setdefault((principal, call.source, call.name, outcome), len(self.index))


def _logged_in(call: Call, region: str) -> bool:
    return region == GLOBAL_REGION if call.global_ else True


def _principal_templates(
    world_keys: _Keys,
    pi: int,
    p: Principal,
    region: str,
    ctx: dict[str, str],
    rng: random.Random,
    mix: Mix,
) -> None:
    """Add a principal's templates for one region to the mix."""
    for key, weight, denied in PROFILES[p.profile]:
        call = CALLS[key]
        if not _logged_in(call, region):
            continue
        bias = 1.0 if call.global_ or region == p.home else HOME_REGION_BIAS
        for _ in range(VARIANTS):
            ci = rng.randrange(len(p.callers))
            caller = _variant(p.callers[ci], call, rng)
            local = {**ctx, "self_name": p.name, "caller": p.caller_arns[ci]}
            for outcome, error, share in outcomes(call, denied, local):
                record = build_record(call, caller, local, error, p.account)
                template = compile_template(record, world_keys(pi, call, outcome))
                mix.add(template, p.weight * bias * weight * share / VARIANTS)


def _variant(caller: Caller, call: Call, rng: random.Random) -> Caller:
    """The caller as one call shows it: version drawn, sign-in and forward-access shapes."""
    identity = caller.identity
    if call.event_type == "AwsConsoleSignIn":  # a password sign-in: no keys, no session yet
        dropped = (
            ("accessKeyId", "sessionContext") if identity["type"] == "IAMUser" else ("accessKeyId",)
        )
        identity = {k: v for k, v in identity.items() if k not in dropped}
    elif call.invoked_by:
        identity = {**identity, "invokedBy": call.invoked_by}
    return Caller(identity, caller.agent, caller.ip, draw_version(rng, call.name), caller.console)


def _background_templates(
    account: str,
    region: str,
    ctx: dict[str, str],
    actors: dict[str, Json],
    rng: random.Random,
    scale: float,
    mix: Mix,
) -> None:
    """Add the records of callers that are never targets (they must never be counted)."""
    for actor, key, weight in BACKGROUND:
        call = CALLS[key]
        if not _logged_in(call, region):
            continue
        identity = background_identity(actor, account, call, actors)
        agent = BROWSER if actor == "root" else CLI
        caller = _variant(Caller(identity, agent, "198.51.100.77", ""), call, rng)
        record = build_record(call, caller, ctx, None, account)
        mix.add(compile_template(record, -1), weight * scale)


def _cross_templates(
    keys: _Keys,
    pi: int,
    p: Principal,
    owner_ctx: dict[str, str],
    rng: random.Random,
    mix: Mix,
    copies: list[Template],
) -> None:
    """A principal's calls on another account's resources, and the owner-side copies."""
    for key in CROSS_CALLS:
        call = CALLS[key]
        ci = rng.randrange(len(p.callers))
        caller = _variant(p.callers[ci], call, rng)
        ctx = {**owner_ctx, "self_name": p.name, "caller": p.caller_arns[ci]}
        mine = build_record(call, caller, ctx, None, p.account, shared=True)
        mix.add(compile_template(mine, keys(pi, call, "ok")), p.weight)
        seen_as = {
            "type": "AWSAccount",
            "principalId": caller.identity["principalId"],
            "accountId": p.account,
        }
        theirs = build_record(
            call,
            Caller(seen_as, caller.agent, caller.ip, caller.version),
            ctx,
            None,
            owner_ctx["owner"],
            shared=True,
        )
        copies.append(compile_template(theirs, -1))


@lru_cache(maxsize=4)
def world_of(spec: CorpusSpec) -> World:
    """Build principals and all templates. Deterministic: one RNG, fixed iteration order."""
    rng = random.Random(f"{spec.seed}/world")
    ids = Ids(rng)
    keys = _Keys()
    principals: list[Principal] = []
    contexts: dict[tuple[str, str], dict[str, str]] = {}
    mixes: dict[tuple[str, str], Mix] = {}
    for account in spec.accounts:
        for region in spec.regions:
            contexts[account, region] = resource_context(spec, account, region, ids)
        members = [make_user(spec, account, i, ids) for i in range(spec.users_per_account)]
        members += [make_role(spec, account, i, ids) for i in range(spec.roles_per_account)]
        first = len(principals)
        principals += members
        issuer = next((m for m in members if m.kind == "user"), None)
        actors = make_actors(account, issuer, ids, spec.start_epoch)
        for region in spec.regions:
            mix = mixes[account, region] = Mix()
            ctx = contexts[account, region]
            for offset, p in enumerate(members):
                _principal_templates(keys, first + offset, p, region, ctx, rng, mix)
            own = sum(mix.weights)
            background = sum(w for _, key, w in BACKGROUND if _logged_in(CALLS[key], region))
            scale = BACKGROUND_SHARE / (1 - BACKGROUND_SHARE) * own / background if own else 1.0
            _background_templates(account, region, ctx, actors, rng, scale, mix)
            mix.seal()
    cross: dict[tuple[str, str, str], Mix] = {}
    cross_copies: dict[tuple[str, str, str], list[Template]] = {}
    for caller_account, owner in cross_pairs(spec.accounts):
        for region in spec.regions:
            mix, copies = Mix(), []
            for pi, p in enumerate(principals):
                if p.account == caller_account:
                    _cross_templates(keys, pi, p, contexts[owner, region], rng, mix, copies)
            mix.seal()
            cross[caller_account, owner, region] = mix
            cross_copies[caller_account, owner, region] = copies
    world = World(spec, principals, list(keys.index), mixes, cross, cross_copies)
    world.windows = _windows(spec, _files_per_stream(world))
    return world


def cross_pairs(accounts: Sequence[str]) -> list[tuple[str, str]]:
    """Each account calls into the next one (a ring), so copies stay O(accounts)."""
    if len(accounts) < 2:
        return []
    return [(a, accounts[(i + 1) % len(accounts)]) for i, a in enumerate(accounts)]


def _files_per_stream(world: World) -> int:
    """Files per account and region that bring the corpus close to `target_bytes` (>= 1)."""
    spec = world.spec
    mean_records = sum(spec.records_per_file) / 2
    mean_size = sum(m.mean_size for m in world.mixes.values()) / len(world.mixes)
    per_file = mean_records * (mean_size + 1)
    return max(1, round(spec.target_bytes / (per_file * len(world.mixes))))
