----------------------------- MODULE AwaDispatch -----------------------------
(***************************************************************************)
(* The claim race between dispatchers (workers' claim loops).              *)
(*                                                                         *)
(* The claim is one statement:                                             *)
(*   WITH c AS (SELECT id FROM jobs_hot WHERE state = 'available'          *)
(*              ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED)               *)
(*   UPDATE jobs_hot SET state = 'running', attempt = attempt + 1,         *)
(*                       run_lease = run_lease + 1                         *)
(*     FROM c WHERE jobs_hot.id = c.id AND jobs_hot.state = 'available'    *)
(* Inside it, candidate selection and the update are separate steps that   *)
(* interleave with other statements; the row locks taken by the            *)
(* selection are held until the statement's transaction commits.           *)
(*                                                                         *)
(* What is modelled                                                        *)
(*  - ClaimSnapshot: the statement's snapshot of the available rows.       *)
(*  - ClaimLockCandidate: FOR UPDATE SKIP LOCKED, one row at a time: a row *)
(*    locked by another statement is skipped, a free one is locked, up to  *)
(*    BatchSize rows.  The model assumes nothing more of the candidate     *)
(*    subquery: a candidate may be a row whose newest version is no        *)
(*    longer available (another claim committed after the snapshot was     *)
(*    taken and released its lock).  PostgreSQL normally re-evaluates the  *)
(*    WHERE of a locking read on the newest row version; the claim must    *)
(*    not depend on that (upstream bug #134), so the outer                 *)
(*    state = 'available' re-check has to close the window on its own.     *)
(*  - Claim: the outer UPDATE over the locked candidates (with or          *)
(*    without the re-check, constant OuterRecheck), then commit, which     *)
(*    releases the row locks.  A row that left jobs_hot (completed) is not *)
(*    matched by the UPDATE either way.                                    *)
(*  - Finish: the handler's fenced completion; Requeue: the job becomes    *)
(*    available again (rescue then promotion, or a hand-back) while its    *)
(*    old handler may still be running.  Both wait for the row lock.       *)
(*  - Ghost: epoch[j] counts the times j became available; every claim is  *)
(*    logged with the epoch it consumed.                                   *)
(*                                                                         *)
(* What is abstracted away: MVCC beyond the stale candidate, ORDER BY,     *)
(* priorities and queues, heartbeats, retries and attempts, crashes (see   *)
(* core/AwaCore.tla).                                                      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(JOB);
    Jobs,
    \* @type: Set(DISP);
    Dispatchers,
    \* @type: Int;
    BatchSize,
    \* @type: Int;
    MaxEpoch,
    \* @type: Bool;
    OuterRecheck,
    \* @type: DISP;
    NoOne

ASSUME /\ BatchSize \in Nat \ {0} /\ MaxEpoch \in Nat \ {0}
       /\ OuterRecheck \in BOOLEAN
       /\ NoOne \notin Dispatchers

MaxLease == MaxEpoch * Cardinality(Dispatchers)

VARIABLES
    \* @type: JOB -> Str;
    state,
    \* @type: JOB -> Int;
    lease,
    \* @type: JOB -> Int;
    epoch,
    \* @type: JOB -> DISP;
    rowLock,
    \* @type: DISP -> Str;
    pc,
    \* @type: DISP -> Set(JOB);
    snap,
    \* @type: DISP -> Set(JOB);
    cand,
    \* @type: DISP -> Set(<<JOB, Int>>);
    holding,
    \* @type: Set({job: JOB, epoch: Int, lease: Int, disp: DISP});
    claims

vars == <<state, lease, epoch, rowLock, pc, snap, cand, holding, claims>>

TypeOK ==
    /\ state \in [Jobs -> {"available", "running", "completed"}]
    /\ lease \in [Jobs -> 0..MaxLease]
    /\ epoch \in [Jobs -> 1..MaxEpoch]
    /\ rowLock \in [Jobs -> Dispatchers \cup {NoOne}]
    /\ pc \in [Dispatchers -> {"idle", "select"}]
    /\ snap \in [Dispatchers -> SUBSET Jobs]
    /\ cand \in [Dispatchers -> SUBSET Jobs]
    /\ holding \in [Dispatchers -> SUBSET (Jobs \X (1..MaxLease))]
    /\ claims \subseteq [job: Jobs, epoch: 1..MaxEpoch, lease: 1..MaxLease, disp: Dispatchers]

Init ==
    /\ state = [j \in Jobs |-> "available"]
    /\ lease = [j \in Jobs |-> 0]
    /\ epoch = [j \in Jobs |-> 1]
    /\ rowLock = [j \in Jobs |-> NoOne]
    /\ pc = [d \in Dispatchers |-> "idle"]
    /\ snap = [d \in Dispatchers |-> {}]
    /\ cand = [d \in Dispatchers |-> {}]
    /\ holding = [d \in Dispatchers |-> {}]
    /\ claims = {}

\* The claim statement starts: its snapshot sees these rows as available.
ClaimSnapshot(d) ==
    /\ pc[d] = "idle"
    /\ pc' = [pc EXCEPT ![d] = "select"]
    /\ snap' = [snap EXCEPT ![d] = {j \in Jobs : state[j] = "available"}]
    /\ UNCHANGED <<state, lease, epoch, rowLock, cand, holding, claims>>

\* FOR UPDATE SKIP LOCKED on the next row of the snapshot.
ClaimLockCandidate(d, j) ==
    /\ pc[d] = "select"
    /\ j \in snap[d]
    /\ Cardinality(cand[d]) < BatchSize
    /\ snap' = [snap EXCEPT ![d] = @ \ {j}]
    /\ IF rowLock[j] = NoOne
       THEN /\ rowLock' = [rowLock EXCEPT ![j] = d]
            /\ cand' = [cand EXCEPT ![d] = @ \cup {j}]
       ELSE UNCHANGED <<rowLock, cand>>     \* skipped
    /\ UNCHANGED <<state, lease, epoch, pc, holding, claims>>

\* The outer UPDATE matches a locked candidate still in jobs_hot, and (with
\* the re-check) only if it is still available.
Matches(j) ==
    IF OuterRecheck THEN state[j] = "available"
    ELSE state[j] \in {"available", "running"}

\* The outer UPDATE and the commit, which releases the row locks.
Claim(d) ==
    /\ pc[d] = "select"
    /\ snap[d] = {} \/ Cardinality(cand[d]) = BatchSize
    /\ LET won == {j \in cand[d] : Matches(j)} IN
         /\ state' = [j \in Jobs |-> IF j \in won THEN "running" ELSE state[j]]
         /\ lease' = [j \in Jobs |-> IF j \in won THEN lease[j] + 1 ELSE lease[j]]
         /\ holding' = [holding EXCEPT ![d] = @ \cup {<<j, lease[j] + 1>> : j \in won}]
         /\ claims' = claims \cup
                {[job |-> j, epoch |-> epoch[j], lease |-> lease[j] + 1, disp |-> d] : j \in won}
    /\ rowLock' = [j \in Jobs |-> IF rowLock[j] = d THEN NoOne ELSE rowLock[j]]
    /\ pc' = [pc EXCEPT ![d] = "idle"]
    /\ snap' = [snap EXCEPT ![d] = {}]
    /\ cand' = [cand EXCEPT ![d] = {}]
    /\ UNCHANGED epoch

\* The handler returns; its fenced write goes through only with the current
\* lease.  Either way the dispatcher no longer holds the job.
Finish(d, h) ==
    /\ h \in holding[d]
    /\ rowLock[h[1]] = NoOne
    /\ holding' = [holding EXCEPT ![d] = @ \ {h}]
    /\ IF state[h[1]] = "running" /\ lease[h[1]] = h[2]
       THEN state' = [state EXCEPT ![h[1]] = "completed"]
       ELSE UNCHANGED state
    /\ UNCHANGED <<lease, epoch, rowLock, pc, snap, cand, claims>>

\* Rescue and promotion (or a hand-back): the job is available again; its
\* old handler may still be running and is fenced by the lease.
Requeue(j) ==
    /\ state[j] = "running"
    /\ rowLock[j] = NoOne
    /\ epoch[j] < MaxEpoch
    /\ state' = [state EXCEPT ![j] = "available"]
    /\ epoch' = [epoch EXCEPT ![j] = @ + 1]
    /\ UNCHANGED <<lease, rowLock, pc, snap, cand, holding, claims>>

Next ==
    \/ \E d \in Dispatchers :
        \/ ClaimSnapshot(d) \/ Claim(d)
        \/ \E j \in Jobs : ClaimLockCandidate(d, j)
        \/ \E h \in Jobs \X (1..MaxLease) : Finish(d, h)
    \/ \E j \in Jobs : Requeue(j)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------

\* Each time a job becomes available it is claimed at most once.
NoDoubleClaim ==
    \A c1, c2 \in claims : (c1.job = c2.job /\ c1.epoch = c2.epoch) => c1 = c2

\* A row lock is held only by a statement that is selecting.
LocksHeldBySelectors ==
    \A j \in Jobs : rowLock[j] # NoOne => (pc[rowLock[j]] = "select" /\ j \in cand[rowLock[j]])

\* Exactly one handler holds the current lease of a running job.
OneHolderOfCurrentLease ==
    \A j \in Jobs : state[j] = "running" =>
        Cardinality({d \in Dispatchers : <<j, lease[j]>> \in holding[d]}) = 1

Symmetry == Permutations(Jobs) \cup Permutations(Dispatchers)
=============================================================================
