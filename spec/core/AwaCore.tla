------------------------------- MODULE AwaCore -------------------------------
(***************************************************************************)
(* The life of awa jobs and the run-lease fence.                           *)
(*                                                                         *)
(* What is modelled                                                        *)
(*  - Job rows with state, attempt and run_lease, stored in exactly one    *)
(*    of three tables: hot (available, running, waiting_external),         *)
(*    deferred (scheduled, retryable) and terminal (completed, failed,     *)
(*    cancelled).  Every transition is one atomic SQL statement and so     *)
(*    one TLA+ step.                                                       *)
(*  - Workers that claim jobs (run_lease += 1 gives the worker its lease   *)
(*    token), heartbeat them, and finish them with fenced writes that      *)
(*    match (id, run_lease = token, state = 'running').  A write that      *)
(*    matches no row is dropped (LeaseLost / FinalizeRejected).            *)
(*  - Crash (SIGKILL) and restart of a worker process; the leader's        *)
(*    stale-heartbeat and deadline rescue; admin cancel and retry.         *)
(*  - The attempts workers hold: a record per claim that is still of       *)
(*    interest, in phase "exec" (the handler may still write) or           *)
(*    "crashed" (its process died).  An attempt whose final write went     *)
(*    through, or whose worker gave up on it, can never write again and    *)
(*    is dropped; a crashed attempt is dropped when its job leaves         *)
(*    running.                                                             *)
(*  - A ghost history, staleAccepted, of every finishing write the         *)
(*    database accepted although the token it carried was not the row's    *)
(*    run_lease at that moment (job, token, run_lease).  Only such writes  *)
(*    are logged, so the ghost adds no states to a correct run.            *)
(*                                                                         *)
(* What is abstracted away                                                 *)
(*  - Time: heartbeats go stale (HeartbeatMissed) and deadlines pass       *)
(*    (RescueDeadline) at any moment; backoff and run_at are not timed.    *)
(*  - SQL text, indexes, SKIP LOCKED (see races/AwaDispatch.tla), MVCC,    *)
(*    LISTEN/NOTIFY (the admin-cancel notice is covered by LeaseLost:      *)
(*    the worker learns either way that its fence no longer matches),      *)
(*    priorities, queues, the completer batch (protocol/AwaShutdown.tla),  *)
(*    leader election (protocol/AwaLeader.tla: here any process may        *)
(*    run maintenance, which is safe because each statement is atomic),    *)
(*    callbacks and waiting_external (protocol/AwaCallback.tla).           *)
(*  - Unbounded re-runs: MaxFreeReruns bounds the number of re-runs that   *)
(*    do not use up an attempt (Snooze, HandBack, AdminRetry) in a whole   *)
(*    behaviour, and MaxLease bounds the number of claims of a job.        *)
(*                                                                         *)
(* The Broken configurations switch off one safeguard each (see the        *)
(* FinalizeChecksLease, RescueChecksMax and ClaimBumpsLease constants).    *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(JOB);
    Jobs,
    \* @type: Set(WORKER);
    Workers,
    \* @type: Int;
    MaxAttempts,
    \* @type: Int;
    MaxLease,
    \* @type: Int;
    MaxFreeReruns,
    \* @type: Int;
    MaxCrashes,
    \* @type: Bool;
    FinalizeChecksLease,
    \* @type: Bool;
    RescueChecksMax,
    \* @type: Bool;
    ClaimBumpsLease

ASSUME /\ MaxAttempts \in Nat \ {0}
       /\ MaxLease \in Nat /\ MaxLease >= MaxAttempts
       /\ MaxFreeReruns \in Nat /\ MaxCrashes \in Nat
       /\ FinalizeChecksLease \in BOOLEAN
       /\ RescueChecksMax \in BOOLEAN
       /\ ClaimBumpsLease \in BOOLEAN

Absent == "absent"    \* the job has not been inserted yet
States == {"scheduled", "available", "running", "completed", "retryable",
           "failed", "cancelled", "waiting_external"}
HotStates == {"available", "running", "waiting_external"}
DeferredStates == {"scheduled", "retryable"}
Terminal == {"completed", "failed", "cancelled"}
Phases == {"exec", "crashed"}

VARIABLES
    \* @type: JOB -> Str;
    state,
    \* @type: Set(JOB);
    hot,
    \* @type: Set(JOB);
    deferred,
    \* @type: Set(JOB);
    terminal,
    \* @type: JOB -> Int;
    lease,
    \* @type: JOB -> Int;
    attempt,
    \* @type: JOB -> Bool;
    hbFresh,        \* heartbeat_at of a running row is recent
    \* @type: Int;
    freeReruns,     \* re-runs so far that gave an attempt back (bounded)
    \* @type: WORKER -> Bool;
    alive,          \* the worker process runs (not crashed)
    \* @type: Int;
    crashes,
    \* @type: Set({job: JOB, lease: Int, worker: WORKER, phase: Str});
    attempts,       \* lease tokens workers hold (see the comment above)
    \* @type: Set(<<JOB, Int, Int>>);
    staleAccepted   \* ghost: finishing writes accepted with a stale token

vars == <<state, hot, deferred, terminal, lease, attempt, hbFresh, freeReruns,
          alive, crashes, attempts, staleAccepted>>
jobVars == <<state, hot, deferred, terminal, lease, attempt, hbFresh, freeReruns>>

Attempt == [job: Jobs, lease: 0..MaxLease, worker: Workers, phase: Phases]

TypeOK ==
    /\ state \in [Jobs -> States \cup {Absent}]
    /\ hot \subseteq Jobs /\ deferred \subseteq Jobs /\ terminal \subseteq Jobs
    /\ lease \in [Jobs -> 0..MaxLease]
    /\ attempt \in [Jobs -> 0..MaxLease]
    /\ hbFresh \in [Jobs -> BOOLEAN]
    /\ freeReruns \in 0..MaxFreeReruns
    /\ alive \in [Workers -> BOOLEAN]
    /\ crashes \in 0..MaxCrashes
    /\ attempts \subseteq Attempt
    /\ staleAccepted \subseteq Jobs \X (0..MaxLease) \X (0..MaxLease)

Init ==
    /\ state = [j \in Jobs |-> Absent]
    /\ hot = {} /\ deferred = {} /\ terminal = {}
    /\ lease = [j \in Jobs |-> 0]
    /\ attempt = [j \in Jobs |-> 0]
    /\ hbFresh = [j \in Jobs |-> FALSE]
    /\ freeReruns = 0
    /\ alive = [w \in Workers |-> TRUE]
    /\ crashes = 0
    /\ attempts = {}
    /\ staleAccepted = {}

-----------------------------------------------------------------------------
(* Helpers *)

\* One statement moves the row to the table of its new state (DELETE ...
\* RETURNING feeding an INSERT, or an UPDATE inside the same table).  A claim
\* sets heartbeat_at; outside running the heartbeat is of no interest.
MoveTo(j, s) ==
    /\ state' = [state EXCEPT ![j] = s]
    /\ hot' = IF s \in HotStates THEN hot \cup {j} ELSE hot \ {j}
    /\ deferred' = IF s \in DeferredStates THEN deferred \cup {j} ELSE deferred \ {j}
    /\ terminal' = IF s \in Terminal THEN terminal \cup {j} ELSE terminal \ {j}
    /\ hbFresh' = [hbFresh EXCEPT ![j] = (s = "running")]

\* The fence of every worker write: (id, run_lease = token, state = 'running').
Holds(a) == state[a.job] = "running" /\ lease[a.job] = a.lease

\* The fence of finishing writes; the Broken config drops the lease check.
FinalizeFence(a) ==
    IF FinalizeChecksLease THEN Holds(a) ELSE state[a.job] = "running"

\* The worker process is alive and its handler may still write.
Active(w, a) == a \in attempts /\ a.worker = w /\ a.phase = "exec" /\ alive[w]

\* The worker is done with this attempt: it will never write for it again.
Drop(a) == attempts' = attempts \ {a}

\* A crashed attempt is of no interest once its job leaves running.
DropCrashed(j) == attempts' = {a \in attempts : ~(a.job = j /\ a.phase = "crashed")}

\* Ghost: the database accepted a finishing write carrying token a.lease while
\* the row had run_lease = lease[a.job]; log it if the two differ.
Accepted(a) ==
    staleAccepted' = IF a.lease = lease[a.job] THEN staleAccepted
                     ELSE staleAccepted \cup {<<a.job, a.lease, lease[a.job]>>}

\* Retry and rescue: retryable while attempts remain, failed otherwise.
AfterFailure(j, checkMax) ==
    IF checkMax /\ attempt[j] >= MaxAttempts THEN "failed" ELSE "retryable"

-----------------------------------------------------------------------------
(* Producer and maintenance *)

Insert(j) ==
    /\ state[j] = Absent
    /\ \E s \in {"available", "scheduled"} : MoveTo(j, s)
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes, attempts, staleAccepted>>

\* Leader: a due scheduled or retryable job becomes available.
Promote(j) ==
    /\ state[j] \in DeferredStates
    /\ MoveTo(j, "available")
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes, attempts, staleAccepted>>

\* The heartbeat of a running job goes stale (time passes without a beat).
HeartbeatMissed(j) ==
    /\ state[j] = "running" /\ hbFresh[j]
    /\ hbFresh' = [hbFresh EXCEPT ![j] = FALSE]
    /\ UNCHANGED <<state, hot, deferred, terminal, lease, attempt, freeReruns,
                   alive, crashes, attempts, staleAccepted>>

\* Leader: rescue does not touch run_lease; the next claim bumps it.
Rescue(j) ==
    /\ MoveTo(j, AfterFailure(j, RescueChecksMax))
    /\ DropCrashed(j)
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes, staleAccepted>>

RescueStale(j) == state[j] = "running" /\ ~hbFresh[j] /\ Rescue(j)

RescueDeadline(j) == state[j] = "running" /\ Rescue(j)

AdminCancel(j) ==
    /\ state[j] \notin Terminal \cup {Absent}
    /\ MoveTo(j, "cancelled")
    /\ DropCrashed(j)
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes, staleAccepted>>

\* run_lease is kept, so a worker still holding the old token stays fenced.
AdminRetry(j) ==
    /\ state[j] \in {"failed", "cancelled", "scheduled", "retryable", "waiting_external"}
    /\ freeReruns < MaxFreeReruns
    /\ MoveTo(j, "available")
    /\ attempt' = [attempt EXCEPT ![j] = 0]
    /\ freeReruns' = freeReruns + 1
    /\ UNCHANGED <<lease, alive, crashes, attempts, staleAccepted>>

-----------------------------------------------------------------------------
(* Workers *)

Claim(w, j) ==
    /\ alive[w]
    /\ state[j] = "available"
    /\ lease[j] < MaxLease
    /\ LET l == IF ClaimBumpsLease THEN lease[j] + 1 ELSE lease[j] IN
         /\ lease' = [lease EXCEPT ![j] = l]
         /\ attempts' = attempts \cup {[job |-> j, lease |-> l, worker |-> w, phase |-> "exec"]}
    /\ MoveTo(j, "running")
    /\ attempt' = [attempt EXCEPT ![j] = @ + 1]
    /\ UNCHANGED <<freeReruns, alive, crashes, staleAccepted>>

Heartbeat(w, a) ==
    /\ Active(w, a)
    /\ Holds(a)
    /\ hbFresh' = [hbFresh EXCEPT ![a.job] = TRUE]
    /\ UNCHANGED <<state, hot, deferred, terminal, lease, attempt, freeReruns,
                   alive, crashes, attempts, staleAccepted>>

\* A heartbeat (or the cancel notice) found 0 rows for the token: the worker
\* cancels the handler locally and never writes for this attempt again.
LeaseLost(w, a) ==
    /\ Active(w, a)
    /\ ~Holds(a)
    /\ Drop(a)
    /\ UNCHANGED <<jobVars, alive, crashes, staleAccepted>>

\* A finishing write: fenced, moves the job, the attempt is over.
Finish(w, a, s) ==
    /\ Active(w, a)
    /\ FinalizeFence(a)
    /\ MoveTo(a.job, s)
    /\ Drop(a)
    /\ Accepted(a)

Complete(w, a) ==
    /\ Finish(w, a, "completed")
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes>>

Retry(w, a) ==
    /\ Finish(w, a, AfterFailure(a.job, TRUE))
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes>>

\* Snooze does not use up the attempt the claim counted.
Snooze(w, a) ==
    /\ freeReruns < MaxFreeReruns
    /\ Finish(w, a, "scheduled")
    /\ attempt' = [attempt EXCEPT ![a.job] = @ - 1]
    /\ freeReruns' = freeReruns + 1
    /\ UNCHANGED <<lease, alive, crashes>>

Fail(w, a) ==
    /\ Finish(w, a, "failed")
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes>>

HandlerCancel(w, a) ==
    /\ Finish(w, a, "cancelled")
    /\ UNCHANGED <<lease, attempt, freeReruns, alive, crashes>>

\* Shutdown: running -> available at once; the attempt is given back too.
HandBack(w, a) ==
    /\ freeReruns < MaxFreeReruns
    /\ Finish(w, a, "available")
    /\ attempt' = [attempt EXCEPT ![a.job] = @ - 1]
    /\ freeReruns' = freeReruns + 1
    /\ UNCHANGED <<lease, alive, crashes>>

\* The completer's write for this outcome matched 0 rows: dropped.
FinalizeRejected(w, a) ==
    /\ Active(w, a)
    /\ ~FinalizeFence(a)
    /\ Drop(a)
    /\ UNCHANGED <<jobVars, alive, crashes, staleAccepted>>

\* SIGKILL: the process and its handlers are gone, heartbeats stop.
Crash(w) ==
    /\ alive[w]
    /\ crashes < MaxCrashes
    /\ alive' = [alive EXCEPT ![w] = FALSE]
    /\ crashes' = crashes + 1
    /\ attempts' = {IF a.worker = w /\ a.phase = "exec" THEN [a EXCEPT !.phase = "crashed"] ELSE a
                    : a \in attempts}
    /\ UNCHANGED <<jobVars, staleAccepted>>

\* A new process takes the crashed one's place (its old attempts stay dead).
Restart(w) ==
    /\ ~alive[w]
    /\ alive' = [alive EXCEPT ![w] = TRUE]
    /\ UNCHANGED <<jobVars, crashes, attempts, staleAccepted>>

-----------------------------------------------------------------------------

\* The attempts a worker may act on (a constant set, so that TLC names each
\* action in its traces; Active(w, a) requires a to be one of attempts).
ExecAttempts(w) == [job: Jobs, lease: 0..MaxLease, worker: {w}, phase: {"exec"}]

Next ==
    \/ \E j \in Jobs :
        \/ Insert(j) \/ Promote(j) \/ HeartbeatMissed(j)
        \/ RescueStale(j) \/ RescueDeadline(j) \/ AdminCancel(j) \/ AdminRetry(j)
        \/ \E w \in Workers : Claim(w, j)
    \/ \E w \in Workers : Crash(w) \/ Restart(w)
    \/ \E w \in Workers : \E a \in ExecAttempts(w) :
        \/ Heartbeat(w, a) \/ LeaseLost(w, a) \/ Complete(w, a) \/ Retry(w, a)
        \/ Snooze(w, a) \/ Fail(w, a) \/ HandlerCancel(w, a) \/ HandBack(w, a)
        \/ FinalizeRejected(w, a)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
(* Liveness: the leader keeps running maintenance, a crashed process is     *)
(* replaced, live workers keep claiming, and handlers eventually return.   *)

\* The attempt that holds the job's current lease belongs to a dead process.
OwnerCrashed(j) ==
    \E a \in attempts : a.job = j /\ a.lease = lease[j] /\ a.phase = "crashed"

HandlerReturns(j) ==
    \E w \in Workers : \E a \in ExecAttempts(w) :
        /\ a.job = j
        /\ \/ Complete(w, a) \/ Retry(w, a) \/ Fail(w, a) \/ HandlerCancel(w, a)
           \/ Snooze(w, a) \/ HandBack(w, a)

Fairness ==
    /\ \A j \in Jobs :
        /\ WF_vars(Promote(j))
        /\ WF_vars(\E w \in Workers : Claim(w, j))
        /\ WF_vars(HandlerReturns(j))
        /\ WF_vars(HeartbeatMissed(j) /\ OwnerCrashed(j))
        /\ WF_vars(RescueStale(j))
    /\ \A w \in Workers : WF_vars(Restart(w))

LiveSpec == Spec /\ Fairness

\* A job that waits for a retry is run again (unless an admin cancels it).
RescuedRunsAgain ==
    \A j \in Jobs : state[j] = "retryable" ~> state[j] \in {"running", "cancelled"}

\* Every inserted job ends in a terminal state.
EveryJobFinishes ==
    \A j \in Jobs : state[j] # Absent ~> state[j] \in Terminal

-----------------------------------------------------------------------------
(* Safety *)

\* A running job's lease is held by exactly one attempt, of a live or of a
\* crashed process (the crashed one is what rescue is for).
RunningHasOwner ==
    \A j \in Jobs : state[j] = "running" =>
        /\ Cardinality({a \in attempts : a.job = j /\ a.lease = lease[j]}) = 1
        /\ \A a \in attempts : (a.job = j /\ a.lease = lease[j]) => a.phase \in {"exec", "crashed"}

\* Every finishing write the database accepted carried the row's current lease.
NoStaleFinalize == staleAccepted = {}

\* At most one live attempt, still willing to write, holds a job's lease.
AtMostOneLiveAttempt ==
    \A j \in Jobs :
        Cardinality({a \in attempts : a.job = j /\ a.lease = lease[j] /\ a.phase = "exec"}) <= 1

\* Each inserted job is in exactly one table, the one its state belongs to;
\* a job not yet inserted is in none.
TableOf(s) ==
    IF s \in HotStates THEN "hot" ELSE IF s \in DeferredStates THEN "deferred" ELSE "terminal"

Table(t) == CASE t = "hot" -> hot [] t = "deferred" -> deferred [] OTHER -> terminal

InTables(j) == {t \in {"hot", "deferred", "terminal"} : j \in Table(t)}

NoLostJob ==
    \A j \in Jobs :
        IF state[j] = Absent THEN InTables(j) = {}
        ELSE state[j] \in States /\ InTables(j) = {TableOf(state[j])}

\* A running job never runs beyond its max_attempts.
AttemptsBounded ==
    \A j \in Jobs : state[j] = "running" => attempt[j] <= MaxAttempts

\* Liveness configs check this too: the MaxLease bound never blocks a claim,
\* so a liveness result is not an artefact of the bound.
LeaseHeadroom ==
    \A j \in Jobs : state[j] = "available" => lease[j] < MaxLease

Symmetry == Permutations(Jobs) \cup Permutations(Workers)
=============================================================================
