----------------------------- MODULE AwaShutdown -----------------------------
(***************************************************************************)
(* Graceful shutdown of one worker process W, with its batched completer.  *)
(*                                                                         *)
(* W's shutdown goes through these phases, in order:                       *)
(*   run -> stop      StopClaiming: the dispatchers stop, no more claims   *)
(*       -> drain     Drain: wait for the in-flight handlers, up to a      *)
(*                    timeout, while heartbeats and the completer go on    *)
(*       -> handback  HandBackRest (the drain timed out): cancel the       *)
(*                    handlers still running; each one that stops queues   *)
(*                    a hand-back outcome; one that ignores the cancel is  *)
(*                    abandoned after a grace period                       *)
(*       -> flush     FlushCompleter: write what is left in the batch,     *)
(*                    then the completer stops                             *)
(*       -> final     FinalHeartbeat, then the heartbeat loop stops        *)
(*       -> release   ReleaseLeadership (the advisory lock)                *)
(*       -> closed                                                         *)
(*                                                                         *)
(* What is modelled                                                        *)
(*  - The rows of the jobs: state, run_lease, heartbeat age.               *)
(*  - W's handlers (one per claimed job) and its completer: a handler's    *)
(*    outcome (complete, or hand-back for a cancelled one) waits in the    *)
(*    batch until a flush writes the whole batch, each row fenced on       *)
(*    (id, run_lease, state = 'running'); stale rows are rejected.         *)
(*  - Time, as far as heartbeats need it: Tick ages every running row; a   *)
(*    row is stale at age StaleAfter.  W's heartbeat loop beats every      *)
(*    HbEvery ticks (HbEvery < StaleAfter), so while it runs, time cannot  *)
(*    pass a beat that is due.  The loop beats the rows of the handlers    *)
(*    still running, and (BeatQueued) the rows whose outcome waits in the  *)
(*    batch.  The leader (another process, or W itself) rescues stale      *)
(*    rows; an admin may cancel any job.                                   *)
(*  - Ghosts: the phase each job was claimed in, the outcomes produced,    *)
(*    written and rejected, the hand-backs, and the rows rescued while W   *)
(*    still ran their handler or held their outcome.                       *)
(*                                                                         *)
(* What is abstracted away: other workers (a handed-back job just has to   *)
(* be available), retries and attempts, crashes (core/AwaCore.tla), the    *)
(* leader's own protocol (AwaLeader.tla), the kinds of outcome other than  *)
(* complete and hand-back (all are fenced alike), batch sizes, flush       *)
(* timers, hooks, LISTEN.                                                  *)
(*                                                                         *)
(* Broken configurations: StopClaimsFirst = FALSE starts the drain before  *)
(* the dispatchers stop; HeartbeatUntilFinal = FALSE stops the heartbeat   *)
(* loop when the drain begins; BeatQueued = FALSE leaves the rows whose    *)
(* outcome waits in the completer without heartbeats.                      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(JOB);
    Jobs,
    \* @type: Int;
    StaleAfter,
    \* @type: Int;
    HbEvery,
    \* @type: Bool;
    StopClaimsFirst,
    \* @type: Bool;
    HeartbeatUntilFinal,
    \* @type: Bool;
    BeatQueued

ASSUME /\ HbEvery \in Nat \ {0} /\ StaleAfter \in Nat /\ HbEvery < StaleAfter
       /\ StopClaimsFirst \in BOOLEAN /\ HeartbeatUntilFinal \in BOOLEAN
       /\ BeatQueued \in BOOLEAN

Phases == {"run", "stop", "drain", "handback", "flush", "final", "release", "closed"}
\* W's side of a job: not claimed; handler running; cancel requested; outcome
\* queued in the completer; W is done with it; handler abandoned (it ignored
\* the cancel and W exits without an outcome for it).
HandlerStates == {"none", "exec", "cancelling", "queued", "done", "abandoned"}
DbStates == {"available", "running", "completed", "retryable", "cancelled"}

VARIABLES
    \* @type: Str;
    phase,
    \* @type: Bool;
    dispatching,
    \* @type: Bool;
    hbLoop,
    \* @type: Bool;
    leader,
    \* @type: JOB -> Str;
    state,
    \* @type: JOB -> Int;
    lease,
    \* @type: JOB -> Int;
    age,
    \* @type: JOB -> Str;
    hnd,
    \* @type: JOB -> Int;
    tok,
    \* @type: JOB -> Str;
    kind,
    \* @type: JOB -> Str;
    claimedIn,
    \* @type: Set(<<JOB, Int>>);
    produced,
    \* @type: Set(<<JOB, Int>>);
    written,
    \* @type: Set(<<JOB, Int>>);
    rejected,
    \* @type: Set(<<JOB, Int>>);
    handedBack,
    \* @type: Set(JOB);
    rescuedRunning,
    \* @type: Set(JOB);
    rescuedQueued

vars == <<phase, dispatching, hbLoop, leader, state, lease, age, hnd, tok, kind,
          claimedIn, produced, written, rejected, handedBack, rescuedRunning, rescuedQueued>>
ghosts == <<claimedIn, produced, written, rejected, handedBack, rescuedRunning, rescuedQueued>>

TypeOK ==
    /\ phase \in Phases
    /\ dispatching \in BOOLEAN /\ hbLoop \in BOOLEAN /\ leader \in BOOLEAN
    /\ state \in [Jobs -> DbStates]
    /\ lease \in [Jobs -> 0..1]
    /\ age \in [Jobs -> 0..StaleAfter]
    /\ hnd \in [Jobs -> HandlerStates]
    /\ tok \in [Jobs -> 0..1]
    /\ kind \in [Jobs -> {"none", "complete", "handback"}]
    /\ claimedIn \in [Jobs -> Phases \cup {"never"}]
    /\ produced \subseteq Jobs \X {1}
    /\ written \subseteq Jobs \X {1}
    /\ rejected \subseteq Jobs \X {1}
    /\ handedBack \subseteq Jobs \X {1}
    /\ rescuedRunning \subseteq Jobs
    /\ rescuedQueued \subseteq Jobs

Init ==
    /\ phase = "run"
    /\ dispatching = TRUE /\ hbLoop = TRUE /\ leader = TRUE
    /\ state = [j \in Jobs |-> "available"]
    /\ lease = [j \in Jobs |-> 0]
    /\ age = [j \in Jobs |-> 0]
    /\ hnd = [j \in Jobs |-> "none"]
    /\ tok = [j \in Jobs |-> 0]
    /\ kind = [j \in Jobs |-> "none"]
    /\ claimedIn = [j \in Jobs |-> "never"]
    /\ produced = {} /\ written = {} /\ rejected = {} /\ handedBack = {}
    /\ rescuedRunning = {} /\ rescuedQueued = {}

-----------------------------------------------------------------------------
(* Helpers *)

\* W's fence for job j: (id, run_lease = token, state = 'running').
Holds(j) == hnd[j] # "none" /\ state[j] = "running" /\ lease[j] = tok[j]

Running(j) == hnd[j] \in {"exec", "cancelling"}   \* the handler still runs
Queued == {j \in Jobs : hnd[j] = "queued"}

\* The rows the heartbeat loop refreshes.
Beaten(j) == Running(j) \/ (BeatQueued /\ hnd[j] = "queued")

\* The completer writes its whole batch; each row is fenced on its own.
WriteBatch ==
    LET ok == {j \in Queued : Holds(j)} IN
    /\ state' = [j \in Jobs |-> IF j \notin ok THEN state[j]
                                ELSE IF kind[j] = "complete" THEN "completed" ELSE "available"]
    /\ written' = written \cup {<<j, tok[j]>> : j \in ok}
    /\ rejected' = rejected \cup {<<j, tok[j]>> : j \in Queued \ ok}
    /\ handedBack' = handedBack \cup {<<j, tok[j]>> : j \in {i \in ok : kind[i] = "handback"}}
    /\ hnd' = [j \in Jobs |-> IF j \in Queued THEN "done" ELSE hnd[j]]
    /\ kind' = [j \in Jobs |-> IF j \in Queued THEN "none" ELSE kind[j]]

\* One heartbeat statement.  A running handler whose row no longer matches
\* has lost its lease (LeaseLost): it is cancelled and produces no outcome.
Beat ==
    /\ age' = [j \in Jobs |-> IF Beaten(j) /\ Holds(j) THEN 0 ELSE age[j]]
    /\ hnd' = [j \in Jobs |-> IF Running(j) /\ ~Holds(j) THEN "done" ELSE hnd[j]]

-----------------------------------------------------------------------------
(* W's work *)

Claim(j) ==
    /\ dispatching
    /\ state[j] = "available" /\ hnd[j] = "none"
    /\ state' = [state EXCEPT ![j] = "running"]
    /\ lease' = [lease EXCEPT ![j] = @ + 1]
    /\ age' = [age EXCEPT ![j] = 0]
    /\ hnd' = [hnd EXCEPT ![j] = "exec"]
    /\ tok' = [tok EXCEPT ![j] = lease[j] + 1]
    /\ claimedIn' = [claimedIn EXCEPT ![j] = phase]
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, kind, produced, written, rejected,
                   handedBack, rescuedRunning, rescuedQueued>>

\* The handler returns; the attempt leaves the slot, the outcome goes into
\* the completer's batch.
HandlerReturns(j) ==
    /\ hnd[j] = "exec"
    /\ hnd' = [hnd EXCEPT ![j] = "queued"]
    /\ kind' = [kind EXCEPT ![j] = "complete"]
    /\ produced' = produced \cup {<<j, tok[j]>>}
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, state, lease, age, tok, claimedIn,
                   written, rejected, handedBack, rescuedRunning, rescuedQueued>>

\* A cancelled handler stops; its outcome is a hand-back.
HandlerStops(j) ==
    /\ hnd[j] = "cancelling"
    /\ hnd' = [hnd EXCEPT ![j] = "queued"]
    /\ kind' = [kind EXCEPT ![j] = "handback"]
    /\ produced' = produced \cup {<<j, tok[j]>>}
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, state, lease, age, tok, claimedIn,
                   written, rejected, handedBack, rescuedRunning, rescuedQueued>>

\* The completer's periodic flush; it runs until FlushCompleter.
Flush ==
    /\ phase \in {"run", "stop", "drain", "handback"}
    /\ Queued # {}
    /\ WriteBatch
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, lease, age, tok, claimedIn,
                   produced, rescuedRunning, rescuedQueued>>

Heartbeat ==
    /\ hbLoop
    /\ \E j \in Jobs : Beaten(j)
    /\ Beat
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, state, lease, tok, kind, ghosts>>

-----------------------------------------------------------------------------
(* Shutdown *)

\* The dispatchers stop: no more claims.  (Broken order: only once the drain
\* has begun.)
StopClaiming ==
    /\ dispatching
    /\ IF StopClaimsFirst THEN phase = "run" /\ phase' = "stop"
       ELSE phase = "drain" /\ UNCHANGED phase
    /\ dispatching' = FALSE
    /\ UNCHANGED <<hbLoop, leader, state, lease, age, hnd, tok, kind, ghosts>>

\* The drain begins.  (Broken: heartbeats stop here.)
Drain ==
    /\ phase = IF StopClaimsFirst THEN "stop" ELSE "run"
    /\ phase' = "drain"
    /\ hbLoop' = (hbLoop /\ HeartbeatUntilFinal)
    /\ UNCHANGED <<dispatching, leader, state, lease, age, hnd, tok, kind, ghosts>>

\* Every handler has returned: the drain is over.
EndDrain ==
    /\ phase = "drain" /\ ~dispatching
    /\ \A j \in Jobs : ~Running(j)
    /\ phase' = "flush"
    /\ UNCHANGED <<dispatching, hbLoop, leader, state, lease, age, hnd, tok, kind, ghosts>>

\* The drain timed out: cancel the handlers still running.
HandBackRest ==
    /\ phase = "drain" /\ ~dispatching
    /\ \E j \in Jobs : hnd[j] = "exec"
    /\ phase' = "handback"
    /\ hnd' = [j \in Jobs |-> IF hnd[j] = "exec" THEN "cancelling" ELSE hnd[j]]
    /\ UNCHANGED <<dispatching, hbLoop, leader, state, lease, age, tok, kind, ghosts>>

\* The grace period ran out and the handler still runs (a thread that cannot
\* be interrupted): W gives up on it; its row goes stale after W exits.
Abandon(j) ==
    /\ phase = "handback" /\ hnd[j] = "cancelling"
    /\ hnd' = [hnd EXCEPT ![j] = "abandoned"]
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, state, lease, age, tok, kind, ghosts>>

EndHandBack ==
    /\ phase = "handback"
    /\ \A j \in Jobs : ~Running(j)
    /\ phase' = "flush"
    /\ UNCHANGED <<dispatching, hbLoop, leader, state, lease, age, hnd, tok, kind, ghosts>>

\* Write every outcome still queued, then the completer stops.
FlushCompleter ==
    /\ phase = "flush"
    /\ WriteBatch
    /\ phase' = "final"
    /\ UNCHANGED <<dispatching, hbLoop, leader, lease, age, tok, claimedIn, produced,
                   rescuedRunning, rescuedQueued>>

FinalHeartbeat ==
    /\ phase = "final"
    /\ Beat
    /\ hbLoop' = FALSE
    /\ phase' = "release"
    /\ UNCHANGED <<dispatching, leader, state, lease, tok, kind, ghosts>>

ReleaseLeadership ==
    /\ phase = "release"
    /\ leader' = FALSE
    /\ phase' = "closed"
    /\ UNCHANGED <<dispatching, hbLoop, state, lease, age, hnd, tok, kind, ghosts>>

-----------------------------------------------------------------------------
(* Environment: time, the leader's rescue, an admin *)

\* Time passes.  While W's heartbeat loop runs, a beat is never overdue.
Tick ==
    /\ \E j \in Jobs : state[j] = "running" /\ age[j] < StaleAfter
    /\ hbLoop => \A j \in Jobs : (Beaten(j) /\ Holds(j)) => age[j] < HbEvery
    /\ age' = [j \in Jobs |-> IF state[j] = "running" /\ age[j] < StaleAfter
                              THEN age[j] + 1 ELSE age[j]]
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, state, lease, hnd, tok, kind, ghosts>>

RescueStale(j) ==
    /\ state[j] = "running" /\ age[j] >= StaleAfter
    /\ state' = [state EXCEPT ![j] = "retryable"]
    /\ rescuedRunning' = IF Running(j) /\ Holds(j) THEN rescuedRunning \cup {j}
                         ELSE rescuedRunning
    /\ rescuedQueued' = IF hnd[j] = "queued" /\ Holds(j) THEN rescuedQueued \cup {j}
                        ELSE rescuedQueued
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, lease, age, hnd, tok, kind,
                   claimedIn, produced, written, rejected, handedBack>>

AdminCancel(j) ==
    /\ state[j] \in {"available", "running", "retryable"}
    /\ state' = [state EXCEPT ![j] = "cancelled"]
    /\ UNCHANGED <<phase, dispatching, hbLoop, leader, lease, age, hnd, tok, kind, ghosts>>

-----------------------------------------------------------------------------

Next ==
    \/ Flush \/ Heartbeat \/ StopClaiming \/ Drain \/ EndDrain \/ HandBackRest
    \/ EndHandBack \/ FlushCompleter \/ FinalHeartbeat \/ ReleaseLeadership \/ Tick
    \/ \E j \in Jobs :
        \/ Claim(j) \/ HandlerReturns(j) \/ HandlerStops(j) \/ Abandon(j)
        \/ RescueStale(j) \/ AdminCancel(j)

Spec == Init /\ [][Next]_vars

\* Liveness: once asked to stop, W keeps taking its own steps; the drain
\* timeout and the grace period fire if handlers never return.  Handlers,
\* time, the leader and the admin get no fairness; neither does the start
\* of the shutdown (StopClaiming in the documented order).
Fairness ==
    /\ WF_vars(Flush) /\ WF_vars(Heartbeat) /\ WF_vars(Drain)
    /\ WF_vars(EndDrain) /\ WF_vars(HandBackRest) /\ WF_vars(EndHandBack)
    /\ WF_vars(FlushCompleter) /\ WF_vars(FinalHeartbeat) /\ WF_vars(ReleaseLeadership)
    /\ \A j \in Jobs : WF_vars(Abandon(j))

LiveSpec == Spec /\ Fairness

DrainEnds == phase = "drain" ~> phase \in {"handback", "flush"}

ShutdownCompletes == phase # "run" ~> phase = "closed"

-----------------------------------------------------------------------------
(* Safety *)

\* Every claim of W happened before its shutdown began.
NoClaimAfterStop == \A j \in Jobs : claimedIn[j] \in {"never", "run"}

\* No row is rescued as stale while W's handler for it still runs.
HeartbeatsWhileInFlight == rescuedRunning = {}

\* No row is rescued as stale while its outcome waits in W's completer (the
\* outcome would be rejected and the job run again).
QueuedOutcomeNotRescued == rescuedQueued = {}

\* A job W handed back is available at once (until an admin cancels it;
\* nothing else in this model touches it).
HandedBackIsRunnable ==
    \A h \in handedBack : state[h[1]] \in {"available", "cancelled"}

\* Every outcome a handler produced is in the batch, written, or rejected as
\* stale; once W is closed the batch is empty.
NoCompletionLost ==
    /\ produced = written \cup rejected \cup {<<j, tok[j]>> : j \in Queued}
    /\ phase = "closed" => Queued = {}

\* When W is closed nothing of it runs, and only an abandoned handler's row
\* may still be running (it goes stale and is rescued).
ClosedCleanly ==
    phase = "closed" =>
        /\ ~dispatching /\ ~hbLoop /\ ~leader
        /\ \A j \in Jobs : hnd[j] \in {"none", "done", "abandoned"}
        /\ \A j \in Jobs : Holds(j) => hnd[j] = "abandoned"

Symmetry == Permutations(Jobs)
=============================================================================
