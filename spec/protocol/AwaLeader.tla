------------------------------ MODULE AwaLeader ------------------------------
(***************************************************************************)
(* Several awa processes: leader election, a lagging old leader, and the   *)
(* rescue of a paused worker's job racing that worker's late completion.   *)
(*                                                                         *)
(* What is modelled                                                        *)
(*  - Leadership is a session-level advisory lock taken with               *)
(*    pg_try_advisory_lock on a dedicated connection.  The database        *)
(*    releases it when that connection is lost.  The holder learns of the  *)
(*    loss only when it next checks (CheckLeadership), so for a while two  *)
(*    processes may both believe they lead and both run maintenance.       *)
(*  - Every process is also a worker: it claims jobs (run_lease += 1),     *)
(*    heartbeats them and completes them with a fenced write.              *)
(*  - A process may pause (GC, SIGSTOP, a stalled network) and later       *)
(*    resume; a paused process takes no step, its heartbeats stop and its  *)
(*    rows go stale.  While it is paused its connection may be lost.       *)
(*  - Maintenance by any process that believes it leads: rescue of stale   *)
(*    running rows (running -> retryable, run_lease unchanged) and         *)
(*    promotion (retryable -> available).  Each is one atomic statement    *)
(*    whose WHERE clause re-checks the row, so two leaders doing the same  *)
(*    work is harmless.                                                    *)
(*  - Ghost: the completions the database accepted although the row no     *)
(*    longer matched the worker's fence (state = 'running' and             *)
(*    run_lease = token).                                                  *)
(*                                                                         *)
(* What is abstracted away: what else maintenance does (cron, cleanup,     *)
(* see AwaCron.tla), attempts and max_attempts, other outcomes than        *)
(* completion (fenced alike), crashes (a process paused for ever).         *)
(*                                                                         *)
(* Broken configurations: FencedCompletion = FALSE writes the completion   *)
(* by id only; ClaimBumpsLease = FALSE leaves run_lease alone on a claim;  *)
(* a third one shows that two processes may believe they lead at once.     *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(PROC);
    Procs,
    \* @type: Set(JOB);
    Jobs,
    \* @type: Int;
    MaxLease,
    \* @type: Bool;
    FencedCompletion,
    \* @type: Bool;
    ClaimBumpsLease

ASSUME /\ MaxLease \in Nat \ {0}
       /\ FencedCompletion \in BOOLEAN /\ ClaimBumpsLease \in BOOLEAN

VARIABLES
    \* @type: Set(PROC);
    lockHolders,
    \* @type: PROC -> Bool;
    conn,
    \* @type: PROC -> Bool;
    believes,
    \* @type: PROC -> Bool;
    paused,
    \* @type: JOB -> Str;
    state,
    \* @type: JOB -> Int;
    lease,
    \* @type: JOB -> Bool;
    hbStale,
    \* @type: JOB -> Int;
    claims,
    \* @type: Set({job: JOB, lease: Int, proc: PROC});
    attempts,
    \* @type: Set(<<JOB, Int>>);
    lateAccepted

vars == <<lockHolders, conn, believes, paused, state, lease, hbStale, claims,
          attempts, lateAccepted>>
procVars == <<lockHolders, conn, believes, paused>>
jobVars == <<state, lease, hbStale, claims, attempts, lateAccepted>>

TypeOK ==
    /\ lockHolders \subseteq Procs
    /\ conn \in [Procs -> BOOLEAN]
    /\ believes \in [Procs -> BOOLEAN]
    /\ paused \in [Procs -> BOOLEAN]
    /\ state \in [Jobs -> {"available", "running", "retryable", "completed"}]
    /\ lease \in [Jobs -> 0..MaxLease]
    /\ hbStale \in [Jobs -> BOOLEAN]
    /\ claims \in [Jobs -> 0..MaxLease]
    /\ attempts \subseteq [job: Jobs, lease: 0..MaxLease, proc: Procs]
    /\ lateAccepted \subseteq Jobs \X (0..MaxLease)

Init ==
    /\ lockHolders = {}
    /\ conn = [p \in Procs |-> TRUE]
    /\ believes = [p \in Procs |-> FALSE]
    /\ paused = [p \in Procs |-> FALSE]
    /\ state = [j \in Jobs |-> "available"]
    /\ lease = [j \in Jobs |-> 0]
    /\ hbStale = [j \in Jobs |-> FALSE]
    /\ claims = [j \in Jobs |-> 0]
    /\ attempts = {}
    /\ lateAccepted = {}

-----------------------------------------------------------------------------
(* Leadership *)

\* pg_try_advisory_lock: succeeds only if no session holds the lock.
BecomeLeader(p) ==
    /\ ~paused[p] /\ conn[p] /\ ~believes[p]
    /\ lockHolders = {}
    /\ lockHolders' = {p}
    /\ believes' = [believes EXCEPT ![p] = TRUE]
    /\ UNCHANGED <<conn, paused, jobVars>>

\* The leader connection drops (also while the process is paused); the
\* database ends the session and with it the lock.  The process does not know.
ConnLost(p) ==
    /\ conn[p]
    /\ conn' = [conn EXCEPT ![p] = FALSE]
    /\ lockHolders' = lockHolders \ {p}
    /\ UNCHANGED <<believes, paused, jobVars>>

Reconnect(p) ==
    /\ ~paused[p] /\ ~conn[p]
    /\ conn' = [conn EXCEPT ![p] = TRUE]
    /\ UNCHANGED <<lockHolders, believes, paused, jobVars>>

\* A leader steps down on purpose (shutdown): pg_advisory_unlock.
ReleaseLeadership(p) ==
    /\ ~paused[p] /\ believes[p] /\ p \in lockHolders
    /\ lockHolders' = lockHolders \ {p}
    /\ believes' = [believes EXCEPT ![p] = FALSE]
    /\ UNCHANGED <<conn, paused, jobVars>>

\* The periodic liveness check of the leader connection.
CheckLeadership(p) ==
    /\ ~paused[p] /\ believes[p] /\ p \notin lockHolders
    /\ believes' = [believes EXCEPT ![p] = FALSE]
    /\ UNCHANGED <<lockHolders, conn, paused, jobVars>>

Pause(p) ==
    /\ ~paused[p]
    /\ paused' = [paused EXCEPT ![p] = TRUE]
    /\ UNCHANGED <<lockHolders, conn, believes, jobVars>>

Resume(p) ==
    /\ paused[p]
    /\ paused' = [paused EXCEPT ![p] = FALSE]
    /\ UNCHANGED <<lockHolders, conn, believes, jobVars>>

-----------------------------------------------------------------------------
(* Workers *)

Claim(p, j) ==
    /\ ~paused[p]
    /\ state[j] = "available"
    /\ claims[j] < MaxLease
    /\ LET l == IF ClaimBumpsLease THEN lease[j] + 1 ELSE lease[j] IN
         /\ lease' = [lease EXCEPT ![j] = l]
         /\ attempts' = attempts \cup {[job |-> j, lease |-> l, proc |-> p]}
    /\ state' = [state EXCEPT ![j] = "running"]
    /\ hbStale' = [hbStale EXCEPT ![j] = FALSE]
    /\ claims' = [claims EXCEPT ![j] = @ + 1]
    /\ UNCHANGED <<procVars, lateAccepted>>

\* W's fence: (id, run_lease = token, state = 'running').
Holds(a) == state[a.job] = "running" /\ lease[a.job] = a.lease

\* What the completion's WHERE clause matches.
CompletionMatches(a) ==
    IF FencedCompletion THEN Holds(a) ELSE state[a.job] # "completed"

Heartbeat(p, a) ==
    /\ ~paused[p] /\ a \in attempts /\ a.proc = p
    /\ Holds(a) /\ hbStale[a.job]
    /\ hbStale' = [hbStale EXCEPT ![a.job] = FALSE]
    /\ UNCHANGED <<procVars, state, lease, claims, attempts, lateAccepted>>

\* Only a paused process misses heartbeats (a running one beats in time).
HeartbeatMissed(j) ==
    /\ state[j] = "running" /\ ~hbStale[j]
    /\ \E a \in attempts : a.job = j /\ a.lease = lease[j] /\ paused[a.proc]
    /\ hbStale' = [hbStale EXCEPT ![j] = TRUE]
    /\ UNCHANGED <<procVars, state, lease, claims, attempts, lateAccepted>>

\* The handler returns (possibly long after a pause) and the process writes
\* the completion.  Either way the process is done with the attempt.
Complete(p, a) ==
    /\ ~paused[p] /\ a \in attempts /\ a.proc = p
    /\ IF CompletionMatches(a)
       THEN /\ state' = [state EXCEPT ![a.job] = "completed"]
            /\ lateAccepted' = IF Holds(a) THEN lateAccepted
                               ELSE lateAccepted \cup {<<a.job, a.lease>>}
       ELSE UNCHANGED <<state, lateAccepted>>    \* 0 rows: rejected as stale
    /\ attempts' = attempts \ {a}
    /\ UNCHANGED <<procVars, lease, hbStale, claims>>

-----------------------------------------------------------------------------
(* Maintenance, by whoever believes it leads *)

RescueStale(p, j) ==
    /\ ~paused[p] /\ believes[p]
    /\ state[j] = "running" /\ hbStale[j]
    /\ state' = [state EXCEPT ![j] = "retryable"]
    /\ UNCHANGED <<procVars, lease, hbStale, claims, attempts, lateAccepted>>

Promote(p, j) ==
    /\ ~paused[p] /\ believes[p]
    /\ state[j] = "retryable"
    /\ state' = [state EXCEPT ![j] = "available"]
    /\ UNCHANGED <<procVars, lease, hbStale, claims, attempts, lateAccepted>>

-----------------------------------------------------------------------------

\* A constant superset of p's attempts, so that TLC names actions in traces.
AttemptsOf(p) == [job: Jobs, lease: 0..MaxLease, proc: {p}]

Next ==
    \/ \E p \in Procs :
        \/ BecomeLeader(p) \/ ReleaseLeadership(p) \/ ConnLost(p) \/ Reconnect(p)
        \/ CheckLeadership(p)
        \/ Pause(p) \/ Resume(p)
        \/ \E a \in AttemptsOf(p) : Heartbeat(p, a) \/ Complete(p, a)
        \/ \E j \in Jobs : Claim(p, j) \/ RescueStale(p, j) \/ Promote(p, j)
    \/ \E j \in Jobs : HeartbeatMissed(j)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
(* Safety *)

\* The database lock has at most one holder, and only over a live session.
LockHeldByOne ==
    /\ Cardinality(lockHolders) <= 1
    /\ \A p \in lockHolders : conn[p]

\* Never two attempts (of live or paused processes) hold a job's current lease.
NoDoubleRun ==
    \A j \in Jobs : Cardinality({a \in attempts : a.job = j /\ a.lease = lease[j]}) <= 1

\* A completion whose fence no longer matched was never accepted.
LateCompletionRejected == lateAccepted = {}

\* Not an invariant of the system: two processes can believe they lead.  The
\* Broken config that checks it shows that the other invariants hold anyway.
UniqueLeaderBelief == Cardinality({p \in Procs : believes[p]}) <= 1

Symmetry == Permutations(Procs) \cup Permutations(Jobs)
=============================================================================
