//! Case workflow state transitions: the pure `allowed_actions` / `transition`
//! functions every case action of the API, the timer sweeps and automatic
//! dispatch go through (before the store writes the result).
//!
//! Measured, with the default rules and the roles of a district command center
//! (受理员, 值班长, 派遣员, 监督员) and one handling department (处置人员):
//!
//! - `allowed_actions/<stage>`: the buttons for the role that acts on a case in
//!   each main stage (all 25 action kinds are checked each time);
//! - `closed_loop_8_transitions`: report → 受理 → 立案 → 派遣 → 签收 → 处置反馈
//!   → 派核查 → 核查通过 → 结案, each by the role that takes it;
//! - `rework_loop_5_transitions`: from 待核查, 返工 (check fails, with the
//!   mandatory opinion) → 处置反馈 → 派核查 → 核查通过 → 结案;
//! - `refused/*`: a handler trying to dispatch (wrong role) and a dispatcher
//!   trying to close a case still being handled (wrong stage); a refusal builds
//!   its message and the list of actions the actor may take instead.
//!
//! Baselines in the same run: cloning the `CaseSnapshot`, which every accepted
//! transition must do at least once (the next snapshot is a copy of the current
//! one with fields changed), so it is the floor of a transition; and a
//! serde_json round trip of the same snapshot, what it costs to move a case
//! across a boundary (the API answers with JSON), for scale.
//!
//! The snapshots the benchmarks start from are produced by running the loop
//! once through `transition` (not set up by hand), and before anything is timed
//! the loops are run once and checked to pass through the expected states and
//! end `Closed`; the refusals are checked to be refusals of the expected kind.
//!
//! Run: `cargo bench -p chengyun-domain --bench workflow`
//! (criterion's options after `--`, e.g. `-- --warm-up-time 1 --measurement-time 3`).

use chengyun_domain::case::Urgency;
use chengyun_domain::case::workflow::{
    ActionRequest, ActorContext, CaseAction, CaseActionKind, CaseSnapshot, CaseState, CloseKind,
    RefusalReason, Source, allowed_actions, transition,
};
use chengyun_domain::city::{Position, Tier};
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const CENTER: &str = "YH-CENTER";
const CGJ: &str = "YH-CGJ";
const INSPECTOR_ID: i64 = 4;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

fn at_center(id: i64, p: Position) -> ActorContext {
    ActorContext::user(id, vec![p], CENTER, Some(Tier::District))
}

struct Staff {
    clerk: ActorContext,
    shift_leader: ActorContext,
    dispatcher: ActorContext,
    inspector: ActorContext,
    handler: ActorContext,
}

impl Staff {
    fn new() -> Self {
        Self {
            clerk: at_center(1, Position::Clerk),
            shift_leader: at_center(2, Position::ShiftLeader),
            dispatcher: at_center(3, Position::Dispatcher),
            inspector: at_center(INSPECTOR_ID, Position::Inspector),
            handler: ActorContext::user(5, vec![Position::Handler], CGJ, None),
        }
    }
}

/// One step of a loop: who acts, the request (built before timing), and the
/// state the case must be in afterwards (checked once, outside the timing).
struct Step<'a> {
    actor: &'a ActorContext,
    request: ActionRequest,
    then: CaseState,
}

fn step(actor: &ActorContext, action: CaseAction, then: CaseState) -> Step<'_> {
    Step {
        actor,
        request: ActionRequest::new(action),
        then,
    }
}

/// The closed loop without detours. Only 返工 needs an opinion under the
/// default rules; these requests carry none, as a user leaving the field empty.
fn closed_loop(s: &Staff) -> Vec<Step<'_>> {
    vec![
        step(
            &s.clerk,
            CaseAction::Receive,
            CaseState::AwaitingRegistration,
        ),
        step(&s.shift_leader, CaseAction::Register, CaseState::Registered),
        step(
            &s.dispatcher,
            CaseAction::Dispatch {
                department: CGJ.into(),
                user: None,
            },
            CaseState::Dispatched,
        ),
        step(&s.handler, CaseAction::Accept, CaseState::Handling),
        step(&s.handler, CaseAction::Feedback, CaseState::FeedbackGiven),
        step(
            &s.clerk,
            CaseAction::RequestCheck {
                inspector: Some(INSPECTOR_ID),
            },
            CaseState::AwaitingCheck,
        ),
        step(&s.inspector, CaseAction::CheckPass, CaseState::CheckPassed),
        step(&s.dispatcher, CaseAction::Close, CaseState::Closed),
    ]
}

/// From 待核查: the check fails (返工, with its mandatory opinion), the
/// department fixes it again, and the second check passes.
fn rework_loop(s: &Staff) -> Vec<Step<'_>> {
    vec![
        Step {
            actor: &s.inspector,
            request: ActionRequest::new(CaseAction::CheckFail).with_opinion("井盖仍未复位，请返工"),
            then: CaseState::Handling,
        },
        step(&s.handler, CaseAction::Feedback, CaseState::FeedbackGiven),
        step(
            &s.clerk,
            CaseAction::RequestCheck {
                inspector: Some(INSPECTOR_ID),
            },
            CaseState::AwaitingCheck,
        ),
        step(&s.inspector, CaseAction::CheckPass, CaseState::CheckPassed),
        step(&s.dispatcher, CaseAction::Close, CaseState::Closed),
    ]
}

/// The timed part: every step through `transition`, keeping only the case.
fn run(start: &CaseSnapshot, steps: &[Step<'_>], at: DateTime<Utc>) -> Option<CaseSnapshot> {
    let (first, rest) = steps.split_first()?;
    let mut case = transition(start, first.actor, &first.request, at)
        .ok()?
        .case;
    for s in rest {
        case = transition(&case, s.actor, &s.request, at).ok()?.case;
    }
    Some(case)
}

/// Runs `steps` once, checking each transition lands where it should; returns
/// the snapshot before each step and the final one.
fn checked_run(name: &str, start: &CaseSnapshot, steps: &[Step<'_>]) -> Vec<CaseSnapshot> {
    let mut seen = vec![start.clone()];
    let mut case = start.clone();
    for s in steps {
        let kind = s.request.action.kind();
        assert!(
            allowed_actions(&case, s.actor).contains(&kind),
            "{name}: {kind} is not offered in {}",
            case.state
        );
        case = match transition(&case, s.actor, &s.request, now()) {
            Ok(t) => t.case,
            Err(r) => panic!("{name}: {r}"),
        };
        assert_eq!(case.state, s.then, "{name}: state after {kind}");
        seen.push(case.clone());
    }
    assert_eq!(case.state, CaseState::Closed, "{name} must end closed");
    assert_eq!(case.close_kind, Some(CloseKind::Normal), "{name}");
    assert_eq!(
        run(start, steps, now()).as_ref(),
        Some(&case),
        "{name}: the timed path must reach the same case"
    );
    seen
}

fn find(seen: &[CaseSnapshot], state: CaseState) -> CaseSnapshot {
    match seen.iter().find(|c| c.state == state) {
        Some(c) => c.clone(),
        None => panic!("the loop never passes through {state}"),
    }
}

fn bench(c: &mut Criterion) {
    let staff = Staff::new();
    let reported = CaseSnapshot::reported(Source::Public, Urgency::Normal, CENTER, Tier::District);
    let closed = closed_loop(&staff);
    let rework = rework_loop(&staff);
    let at = now();

    // Checked once, outside the timing.
    let seen = checked_run("closed loop", &reported, &closed);
    let awaiting_check = find(&seen, CaseState::AwaitingCheck);
    let after_rework = checked_run("rework loop", &awaiting_check, &rework);
    assert_eq!(
        after_rework.last().map(|c| c.rework_count),
        Some(1),
        "the rework loop counts one 返工"
    );

    // (a) the buttons in each main stage, for the role that acts there.
    let stages: [(&str, CaseState, &ActorContext, CaseActionKind); 6] = [
        (
            "information_collection_clerk",
            CaseState::Reported,
            &staff.clerk,
            CaseActionKind::Receive,
        ),
        (
            "case_creation_shift_leader",
            CaseState::AwaitingRegistration,
            &staff.shift_leader,
            CaseActionKind::Register,
        ),
        (
            "dispatch_dispatcher",
            CaseState::Registered,
            &staff.dispatcher,
            CaseActionKind::Dispatch,
        ),
        (
            "handling_handler",
            CaseState::Handling,
            &staff.handler,
            CaseActionKind::Feedback,
        ),
        (
            "feedback_clerk",
            CaseState::FeedbackGiven,
            &staff.clerk,
            CaseActionKind::RequestCheck,
        ),
        (
            "check_close_inspector",
            CaseState::AwaitingCheck,
            &staff.inspector,
            CaseActionKind::CheckPass,
        ),
    ];
    let mut g = c.benchmark_group("workflow");
    g.throughput(Throughput::Elements(1));
    for (name, state, actor, expected) in stages {
        let case = find(&seen, state);
        let offered = allowed_actions(&case, actor);
        assert!(
            offered.contains(&expected),
            "{name}: {expected} not offered, got {offered:?}"
        );
        g.bench_function(format!("allowed_actions/{name}"), |b| {
            b.iter(|| black_box(allowed_actions(black_box(&case), black_box(actor))))
        });
    }

    // (b) and (c): whole loops; throughput in transitions.
    g.throughput(Throughput::Elements(closed.len() as u64));
    g.bench_function(format!("closed_loop_{}_transitions", closed.len()), |b| {
        b.iter(|| black_box(run(black_box(&reported), &closed, at)))
    });
    g.throughput(Throughput::Elements(rework.len() as u64));
    g.bench_function(format!("rework_loop_{}_transitions", rework.len()), |b| {
        b.iter(|| black_box(run(black_box(&awaiting_check), &rework, at)))
    });

    // (d) refusals.
    g.throughput(Throughput::Elements(1));
    let registered = find(&seen, CaseState::Registered);
    let handling = find(&seen, CaseState::Handling);
    let dispatch = ActionRequest::new(CaseAction::Dispatch {
        department: CGJ.into(),
        user: None,
    });
    let close = ActionRequest::new(CaseAction::Close);
    let refusals: [(
        &str,
        &CaseSnapshot,
        &ActorContext,
        &ActionRequest,
        RefusalReason,
    ); 2] = [
        (
            "wrong_role_handler_dispatches",
            &registered,
            &staff.handler,
            &dispatch,
            RefusalReason::NotPermitted,
        ),
        (
            "wrong_stage_close_while_handling",
            &handling,
            &staff.dispatcher,
            &close,
            RefusalReason::WrongState,
        ),
    ];
    for (name, case, actor, request, reason) in refusals {
        match transition(case, actor, request, now()) {
            Ok(t) => panic!("{name}: accepted, to {}", t.new_state()),
            Err(r) => assert_eq!(r.reason, reason, "{name}: {r}"),
        }
        g.bench_function(format!("refused/{name}"), |b| {
            b.iter(|| {
                black_box(transition(
                    black_box(case),
                    black_box(actor),
                    black_box(request),
                    at,
                ))
            })
        });
    }

    // Baselines.
    let json = match serde_json::to_string(&handling) {
        Ok(j) => j,
        Err(e) => panic!("snapshot does not serialise: {e}"),
    };
    assert_eq!(
        serde_json::from_str::<CaseSnapshot>(&json).ok().as_ref(),
        Some(&handling)
    );
    g.bench_function("baseline/clone_snapshot", |b| {
        b.iter(|| black_box(black_box(&handling).clone()))
    });
    g.bench_function("baseline/serde_json_round_trip_snapshot", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&handling)).ok();
            black_box(text.and_then(|t| serde_json::from_str::<CaseSnapshot>(&t).ok()))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
