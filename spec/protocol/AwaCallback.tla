----------------------------- MODULE AwaCallback -----------------------------
(***************************************************************************)
(* External callbacks of one job.                                          *)
(*                                                                         *)
(* A running handler registers a callback (a fenced write that stores a    *)
(* new callback id in the row), then either returns WaitForCallback (the   *)
(* job parks in waiting_external and the worker's slot is released) or     *)
(* waits inside the handler.  An external system resolves the callback     *)
(* with one atomic statement that matches callback_id = id and state IN    *)
(* (running, waiting_external) and clears callback_id:                     *)
(*   complete -> completed, fail -> failed, retry -> retryable,            *)
(*   resume   -> available if parked (the next run gets the payload), or   *)
(*               stays running and hands the payload to the handler if it  *)
(*               has not parked yet or waits in-handler.                   *)
(* A resolution may arrive before the handler parked ("early").  The       *)
(* leader times out parked callbacks (-> retryable, or failed when the     *)
(* attempts are used up) and rescues running jobs; both clear              *)
(* callback_id, as do admin cancel and admin retry.                        *)
(*                                                                         *)
(* What is modelled: the row (state, run_lease, attempt, callback_id, the  *)
(* run an in-handler resume payload went to), the workers' attempts, two   *)
(* resolvers racing, the leader's timeout/rescue/promotion, the admin.     *)
(* Callback ids are the run_lease of the run that registered them (one     *)
(* registration per run), so an id is stale exactly when it is not the     *)
(* row's current run_lease.                                                *)
(*                                                                         *)
(* What is abstracted away: UUIDs, payload contents, callback filters and  *)
(* transforms, timeout and backoff durations (they fire at any moment),    *)
(* several registrations within one run, heartbeats (see AwaCore.tla).     *)
(*                                                                         *)
(* Broken configurations: AtomicResolve = FALSE resolves by reading the    *)
(* row, then writing by job id; RescueClearsCallback = FALSE keeps the     *)
(* old callback id through a rescue; ParkChecksCallback = FALSE parks a    *)
(* handler whose callback was already resolved early.                      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(WORKER);
    Workers,
    \* @type: Set(RESOLVER);
    Resolvers,
    \* @type: Int;
    MaxLease,
    \* @type: Int;
    MaxAttempts,
    \* @type: Int;
    MaxAdminRetries,
    \* @type: Bool;
    AtomicResolve,
    \* @type: Bool;
    RescueClearsCallback,
    \* @type: Bool;
    ParkChecksCallback

ASSUME /\ MaxLease \in Nat \ {0} /\ MaxAttempts \in Nat \ {0} /\ MaxAdminRetries \in Nat
       /\ AtomicResolve \in BOOLEAN /\ RescueClearsCallback \in BOOLEAN
       /\ ParkChecksCallback \in BOOLEAN

None == 0     \* callback_id IS NULL; ids are 1..MaxLease
Ids == 1..MaxLease
Outcomes == {"complete", "fail", "retry", "resume"}
Terminal == {"completed", "failed", "cancelled"}
States == {"available", "running", "waiting_external", "retryable"} \cup Terminal

VARIABLES
    \* @type: Str;
    state,
    \* @type: Int;
    lease,
    \* @type: Int;
    attempt,
    \* @type: Int;
    cb,
    \* @type: Int;
    payloadFor,
    \* @type: Int;
    adminRetries,
    \* @type: Set({lease: Int, worker: WORKER, phase: Str});
    attempts,
    \* @type: Set(Int);
    issued,
    \* @type: RESOLVER -> Str;
    rpc,
    \* @type: RESOLVER -> Int;
    rid,
    \* @type: Int -> Int;
    resolutions,
    \* @type: Set(Int);
    staleResolved,
    \* @type: Set(Int);
    timedOut

vars == <<state, lease, attempt, cb, payloadFor, adminRetries, attempts, issued,
          rpc, rid, resolutions, staleResolved, timedOut>>
rowVars == <<state, lease, attempt, cb, payloadFor, adminRetries>>
ghostVars == <<issued, resolutions, staleResolved, timedOut>>

TypeOK ==
    /\ state \in States
    /\ lease \in 0..MaxLease
    /\ attempt \in 0..MaxLease
    /\ cb \in {None} \cup Ids
    /\ payloadFor \in 0..MaxLease
    /\ adminRetries \in 0..MaxAdminRetries
    /\ attempts \subseteq [lease: Ids, worker: Workers, phase: {"exec", "registered", "resumed"}]
    /\ issued \subseteq Ids
    /\ rpc \in [Resolvers -> {"idle", "checked"}]
    /\ rid \in [Resolvers -> {None} \cup Ids]
    /\ resolutions \in [Ids -> 0..2]
    /\ staleResolved \subseteq Ids
    /\ timedOut \subseteq Ids

Init ==
    /\ state = "available"
    /\ lease = 0 /\ attempt = 0 /\ cb = None /\ payloadFor = 0 /\ adminRetries = 0
    /\ attempts = {}
    /\ issued = {}
    /\ rpc = [r \in Resolvers |-> "idle"]
    /\ rid = [r \in Resolvers |-> None]
    /\ resolutions = [i \in Ids |-> 0]
    /\ staleResolved = {}
    /\ timedOut = {}

-----------------------------------------------------------------------------
(* Workers *)

\* The fence of worker writes: (id, run_lease = token, state = 'running').
Holds(a) == state = "running" /\ lease = a.lease

Claim(w) ==
    /\ state = "available" /\ lease < MaxLease
    /\ state' = "running"
    /\ lease' = lease + 1
    /\ attempt' = attempt + 1
    /\ attempts' = attempts \cup {[lease |-> lease + 1, worker |-> w, phase |-> "exec"]}
    /\ UNCHANGED <<cb, payloadFor, adminRetries, issued, rpc, rid, resolutions,
                   staleResolved, timedOut>>

\* Fenced: store a new callback id for this run.
Register(w, a) ==
    /\ a \in attempts /\ a.worker = w /\ a.phase = "exec"
    /\ Holds(a)
    /\ cb' = a.lease
    /\ issued' = issued \cup {a.lease}
    /\ attempts' = (attempts \ {a}) \cup {[a EXCEPT !.phase = "registered"]}
    /\ UNCHANGED <<state, lease, attempt, payloadFor, adminRetries, rpc, rid,
                   resolutions, staleResolved, timedOut>>

\* WaitForCallback: fenced running -> waiting_external, only while the
\* callback is still pending; the worker's slot is released.
Park(w, a) ==
    /\ a \in attempts /\ a.worker = w /\ a.phase = "registered"
    /\ Holds(a)
    /\ ParkChecksCallback => cb = a.lease
    /\ state' = "waiting_external"
    /\ attempts' = attempts \ {a}
    /\ UNCHANGED <<lease, attempt, cb, payloadFor, adminRetries, issued, rpc, rid,
                   resolutions, staleResolved, timedOut>>

\* The handler (waiting in-handler, or failing to park because the callback
\* was resolved early) receives the resume payload and carries on.
ReceiveResume(w, a) ==
    /\ a \in attempts /\ a.worker = w /\ a.phase = "registered"
    /\ Holds(a) /\ payloadFor = a.lease
    /\ attempts' = (attempts \ {a}) \cup {[a EXCEPT !.phase = "resumed"]}
    /\ UNCHANGED <<rowVars, issued, rpc, rid, resolutions, staleResolved, timedOut>>

\* The handler returns without waiting (any more): fenced completion.
Complete(w, a) ==
    /\ a \in attempts /\ a.worker = w /\ a.phase \in {"exec", "resumed"}
    /\ Holds(a)
    /\ state' = "completed"
    /\ attempts' = attempts \ {a}
    /\ UNCHANGED <<lease, attempt, cb, payloadFor, adminRetries, issued, rpc, rid,
                   resolutions, staleResolved, timedOut>>

\* A fenced write (or heartbeat) matched 0 rows: the worker drops the attempt
\* (this is also how an in-handler waiter learns that the callback completed,
\* failed, retried, timed out or the job was rescued or cancelled).
LeaseLost(w, a) ==
    /\ a \in attempts /\ a.worker = w
    /\ ~Holds(a)
    /\ attempts' = attempts \ {a}
    /\ UNCHANGED <<rowVars, issued, rpc, rid, resolutions, staleResolved, timedOut>>

-----------------------------------------------------------------------------
(* Resolution *)

\* The row change of a resolution with this outcome; clears callback_id.
Apply(o) ==
    /\ cb' = None
    /\ CASE o = "complete" -> state' = "completed" /\ UNCHANGED payloadFor
         [] o = "fail" -> state' = "failed" /\ UNCHANGED payloadFor
         [] o = "retry" ->
                /\ state' = (IF attempt >= MaxAttempts THEN "failed" ELSE "retryable")
                /\ UNCHANGED payloadFor
         [] o = "resume" ->
                IF state = "waiting_external"
                THEN state' = "available" /\ UNCHANGED payloadFor
                ELSE UNCHANGED state /\ payloadFor' = lease

\* Ghosts of an accepted resolution of callback id i.
Record(i) ==
    /\ resolutions' = [resolutions EXCEPT ![i] = IF @ < 2 THEN @ + 1 ELSE 2]
    /\ staleResolved' = IF i # lease THEN staleResolved \cup {i} ELSE staleResolved

\* One statement: UPDATE ... WHERE callback_id = i AND state IN (running,
\* waiting_external).  0 rows: the resolution is rejected.
Resolve(r, i, o) ==
    /\ AtomicResolve
    /\ i \in issued
    /\ cb = i /\ state \in {"running", "waiting_external"}
    /\ Apply(o) /\ Record(i)
    /\ UNCHANGED <<lease, attempt, adminRetries, attempts, issued, rpc, rid, timedOut>>

\* Broken: read the row, then (another statement) write it by job id.
ResolveRead(r, i) ==
    /\ ~AtomicResolve
    /\ rpc[r] = "idle" /\ i \in issued
    /\ cb = i /\ state \in {"running", "waiting_external"}
    /\ rpc' = [rpc EXCEPT ![r] = "checked"]
    /\ rid' = [rid EXCEPT ![r] = i]
    /\ UNCHANGED <<rowVars, attempts, ghostVars>>

ResolveWrite(r, o) ==
    /\ rpc[r] = "checked"
    /\ state \notin Terminal
    /\ Apply(o) /\ Record(rid[r])
    /\ rpc' = [rpc EXCEPT ![r] = "idle"]
    /\ rid' = [rid EXCEPT ![r] = None]
    /\ UNCHANGED <<lease, attempt, adminRetries, attempts, issued, timedOut>>

-----------------------------------------------------------------------------
(* Leader and admin *)

CallbackTimeout ==
    /\ state = "waiting_external" /\ cb # None
    /\ state' = IF attempt >= MaxAttempts THEN "failed" ELSE "retryable"
    /\ cb' = None
    /\ timedOut' = timedOut \cup {cb}
    /\ UNCHANGED <<lease, attempt, payloadFor, adminRetries, attempts, issued, rpc, rid,
                   resolutions, staleResolved>>

\* Stale heartbeat or deadline; run_lease is not bumped.
Rescue ==
    /\ state = "running"
    /\ state' = IF attempt >= MaxAttempts THEN "failed" ELSE "retryable"
    /\ cb' = IF RescueClearsCallback THEN None ELSE cb
    /\ UNCHANGED <<lease, attempt, payloadFor, adminRetries, attempts, ghostVars, rpc, rid>>

Promote ==
    /\ state = "retryable"
    /\ state' = "available"
    /\ UNCHANGED <<lease, attempt, cb, payloadFor, adminRetries, attempts, ghostVars, rpc, rid>>

AdminCancel ==
    /\ state \notin Terminal
    /\ state' = "cancelled"
    /\ cb' = None
    /\ UNCHANGED <<lease, attempt, payloadFor, adminRetries, attempts, ghostVars, rpc, rid>>

AdminRetry ==
    /\ state \in {"failed", "cancelled", "retryable", "waiting_external"}
    /\ adminRetries < MaxAdminRetries
    /\ state' = "available"
    /\ attempt' = 0
    /\ cb' = None
    /\ adminRetries' = adminRetries + 1
    /\ UNCHANGED <<lease, payloadFor, attempts, ghostVars, rpc, rid>>

-----------------------------------------------------------------------------

\* A constant superset of w's attempts, so that TLC names actions in traces.
AttemptsOf(w) == [lease: Ids, worker: {w}, phase: {"exec", "registered", "resumed"}]

Next ==
    \/ \E w \in Workers :
        \/ Claim(w)
        \/ \E a \in AttemptsOf(w) :
            Register(w, a) \/ Park(w, a) \/ ReceiveResume(w, a) \/ Complete(w, a)
            \/ LeaseLost(w, a)
    \/ \E r \in Resolvers :
        \/ \E i \in Ids : \E o \in Outcomes : Resolve(r, i, o)
        \/ \E i \in Ids : ResolveRead(r, i)
        \/ \E o \in Outcomes : ResolveWrite(r, o)
    \/ CallbackTimeout \/ Rescue \/ Promote \/ AdminCancel \/ AdminRetry

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
(* Safety *)

\* A callback id is resolved at most once.
AtMostOnceResolution == \A i \in Ids : resolutions[i] <= 1

\* A resolution is accepted only with the callback id of the current run.
StaleCallbackRejected == staleResolved = {}

\* A callback id either times out or is resolved, never both.
TimeoutAndCompletionExclusive == timedOut \cap {i \in Ids : resolutions[i] > 0} = {}

\* A parked job can always be resolved or timed out: it has a callback id.
WaitingHasCallback == state = "waiting_external" => cb # None

\* The stored callback id, if any, belongs to the current run.
CallbackOfCurrentRun == cb # None => cb = lease

Symmetry == Permutations(Workers) \cup Permutations(Resolvers)
=============================================================================
