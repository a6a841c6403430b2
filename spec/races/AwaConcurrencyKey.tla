--------------------------- MODULE AwaConcurrencyKey ---------------------------
(***************************************************************************)
(* Per-key concurrency: at most Limit running jobs share a                 *)
(* concurrency_key, across all workers.                                    *)
(*                                                                         *)
(* A claim of a keyed job reads how many jobs of its key run and claims    *)
(* the job only if that is below the limit.  Reading and claiming are      *)
(* separate steps that other claims interleave with, so the claim must     *)
(* serialise per key: it locks the key's row in awa.concurrency_keys       *)
(* (whose running count triggers keep exact) before reading the count,     *)
(* and holds the lock until it commits.  An advisory transaction lock on   *)
(* the key, or one conditional UPDATE ... WHERE running < limit, would     *)
(* serve as well.                                                          *)
(*                                                                         *)
(* What is modelled: keyed jobs (all in one key, the worst case),          *)
(* dispatchers whose claim is lock-key, count, claim-and-commit; jobs      *)
(* finishing, and being handed back or rescued to run again.               *)
(*                                                                         *)
(* What is abstracted away: SKIP LOCKED and the candidate race (see        *)
(* AwaDispatch.tla), leases, several keys (keys are independent), jobs     *)
(* without a key (not limited).                                            *)
(*                                                                         *)
(* Broken configuration: KeyLock = FALSE counts without the key lock.      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(JOB);
    Jobs,
    \* @type: Set(DISP);
    Dispatchers,
    \* @type: Int;
    Limit,
    \* @type: Int;
    MaxRequeues,
    \* @type: Bool;
    KeyLock,
    \* @type: DISP;
    NoOne

ASSUME /\ Limit \in Nat \ {0} /\ MaxRequeues \in Nat /\ KeyLock \in BOOLEAN
       /\ NoOne \notin Dispatchers

VARIABLES
    \* @type: JOB -> Str;
    state,
    \* @type: DISP;
    keyHolder,
    \* @type: DISP -> Str;
    pc,
    \* @type: DISP -> JOB;
    target,
    \* @type: DISP -> Int;
    seen,
    \* @type: Int;
    requeues

vars == <<state, keyHolder, pc, target, seen, requeues>>

Running == {j \in Jobs : state[j] = "running"}

DefaultJob == CHOOSE j \in Jobs : TRUE

TypeOK ==
    /\ state \in [Jobs -> {"available", "running", "completed"}]
    /\ keyHolder \in Dispatchers \cup {NoOne}
    /\ pc \in [Dispatchers -> {"idle", "locked", "counted"}]
    /\ target \in [Dispatchers -> Jobs]
    /\ seen \in [Dispatchers -> 0..Cardinality(Jobs)]
    /\ requeues \in 0..MaxRequeues

Init ==
    /\ state = [j \in Jobs |-> "available"]
    /\ keyHolder = NoOne
    /\ pc = [d \in Dispatchers |-> "idle"]
    /\ target = [d \in Dispatchers |-> DefaultJob]
    /\ seen = [d \in Dispatchers |-> 0]
    /\ requeues = 0

\* The claim statement picks an available keyed job and takes the key lock
\* (waiting while another claim holds it).
LockKey(d, j) ==
    /\ pc[d] = "idle"
    /\ state[j] = "available"
    /\ IF KeyLock THEN keyHolder = NoOne /\ keyHolder' = d ELSE UNCHANGED keyHolder
    /\ pc' = [pc EXCEPT ![d] = "locked"]
    /\ target' = [target EXCEPT ![d] = j]
    /\ UNCHANGED <<state, seen, requeues>>

\* Count the running jobs of the key.
Count(d) ==
    /\ pc[d] = "locked"
    /\ seen' = [seen EXCEPT ![d] = Cardinality(Running)]
    /\ pc' = [pc EXCEPT ![d] = "counted"]
    /\ UNCHANGED <<state, keyHolder, target, requeues>>

\* Claim if the count allowed it (and the job is still available), commit,
\* release the key lock.
ClaimAndCommit(d) ==
    /\ pc[d] = "counted"
    /\ LET j == target[d] IN
         state' = IF seen[d] < Limit /\ state[j] = "available"
                  THEN [state EXCEPT ![j] = "running"] ELSE state
    /\ keyHolder' = IF keyHolder = d THEN NoOne ELSE keyHolder
    /\ pc' = [pc EXCEPT ![d] = "idle"]
    /\ target' = [target EXCEPT ![d] = DefaultJob]
    /\ seen' = [seen EXCEPT ![d] = 0]
    /\ UNCHANGED requeues

Finish(j) ==
    /\ state[j] = "running"
    /\ state' = [state EXCEPT ![j] = "completed"]
    /\ UNCHANGED <<keyHolder, pc, target, seen, requeues>>

\* Hand-back or rescue and promotion: the job is available again.
Requeue(j) ==
    /\ state[j] = "running" /\ requeues < MaxRequeues
    /\ state' = [state EXCEPT ![j] = "available"]
    /\ requeues' = requeues + 1
    /\ UNCHANGED <<keyHolder, pc, target, seen>>

Next ==
    \/ \E d \in Dispatchers :
        \/ Count(d) \/ ClaimAndCommit(d)
        \/ \E j \in Jobs : LockKey(d, j)
    \/ \E j \in Jobs : Finish(j) \/ Requeue(j)

Spec == Init /\ [][Next]_vars

\* Never more than Limit running jobs share the key.
KeyLimitRespected == Cardinality(Running) <= Limit

Symmetry == Permutations(Jobs) \cup Permutations(Dispatchers)
=============================================================================
