------------------------------- MODULE AwaCron -------------------------------
(***************************************************************************)
(* Periodic (cron) jobs fired by processes that may both believe they      *)
(* lead.                                                                   *)
(*                                                                         *)
(* Each schedule is a row cron_jobs(name, last_enqueued_at, paused_at).    *)
(* A process running the cron loop evaluates a schedule: it reads the row  *)
(* and the database clock and computes the fire times due after            *)
(* last_enqueued_at: with the coalesce policy only the latest one, with    *)
(* catch_up each one in order.  Each fire is then enqueued by one          *)
(* statement that does a compare-and-swap on the row and inserts the job:  *)
(*   UPDATE cron_jobs SET last_enqueued_at = fire                          *)
(*    WHERE name = n AND last_enqueued_at IS NOT DISTINCT FROM previous    *)
(*      AND paused_at IS NULL                                              *)
(* joined with the INSERT of the job.  0 rows: someone else fired it, or   *)
(* the schedule was paused; the process drops the rest of its plan.        *)
(*                                                                         *)
(* What is modelled                                                        *)
(*  - Two processes that both run the loop at any time (leadership is not  *)
(*    modelled at all: this is the worst case of two believed leaders).    *)
(*  - The database clock (now), one fire time per tick 1..MaxTime; a new   *)
(*    schedule's last_enqueued_at is its registration time 0.              *)
(*  - Pause, resume, manual trigger (a job inserted without touching       *)
(*    last_enqueued_at).                                                   *)
(*  - The jobs table as a count of jobs inserted per (schedule, fire).     *)
(*                                                                         *)
(* What is abstracted away: cron expressions, time zones and DST (fire     *)
(* times are just increasing numbers), job contents, what the jobs do.     *)
(*                                                                         *)
(* Broken configurations: CasOnLast = FALSE drops the last_enqueued_at     *)
(* comparison; CasOnPaused = FALSE drops the paused_at IS NULL check.      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets, TLC

CONSTANTS
    \* @type: Set(PROC);
    Procs,
    \* @type: Set(SCHED);
    Coalesce,
    \* @type: Set(SCHED);
    CatchUp,
    \* @type: Int;
    MaxTime,
    \* @type: Int;
    MaxManual,
    \* @type: Bool;
    CasOnLast,
    \* @type: Bool;
    CasOnPaused

ASSUME /\ Coalesce \cap CatchUp = {}
       /\ MaxTime \in Nat \ {0} /\ MaxManual \in Nat
       /\ CasOnLast \in BOOLEAN /\ CasOnPaused \in BOOLEAN

Schedules == Coalesce \cup CatchUp
Fires == 1..MaxTime

\* What an idle process's plan fields are reset to (one state per idle process).
DefaultSched == CHOOSE s \in Schedules : TRUE

VARIABLES
    \* @type: Int;
    now,
    \* @type: SCHED -> Int;
    last,
    \* @type: SCHED -> Bool;
    paused,
    \* @type: SCHED -> (Int -> Int);
    jobs,
    \* @type: SCHED -> Int;
    manual,
    \* @type: PROC -> Str;
    pc,
    \* @type: PROC -> SCHED;
    cur,
    \* @type: PROC -> Int;
    nextFire,
    \* @type: PROC -> Int;
    lastFire,
    \* @type: PROC -> Int;
    prev,
    \* @type: PROC -> Int;
    evalAt,
    \* @type: Set(<<SCHED, Int>>);
    firedWhilePaused,
    \* @type: Set(<<SCHED, Int>>);
    notLatest

vars == <<now, last, paused, jobs, manual, pc, cur, nextFire, lastFire, prev, evalAt,
          firedWhilePaused, notLatest>>

TypeOK ==
    /\ now \in 0..MaxTime
    /\ last \in [Schedules -> 0..MaxTime]
    /\ paused \in [Schedules -> BOOLEAN]
    /\ jobs \in [Schedules -> [Fires -> 0..2]]
    /\ manual \in [Schedules -> 0..MaxManual]
    /\ pc \in [Procs -> {"idle", "firing"}]
    /\ cur \in [Procs -> Schedules]
    /\ nextFire \in [Procs -> 0..MaxTime]
    /\ lastFire \in [Procs -> 0..MaxTime]
    /\ prev \in [Procs -> 0..MaxTime]
    /\ evalAt \in [Procs -> 0..MaxTime]
    /\ firedWhilePaused \subseteq Schedules \X Fires
    /\ notLatest \subseteq Schedules \X Fires

Init ==
    /\ now = 0
    /\ last = [s \in Schedules |-> 0]
    /\ paused = [s \in Schedules |-> FALSE]
    /\ jobs = [s \in Schedules |-> [t \in Fires |-> 0]]
    /\ manual = [s \in Schedules |-> 0]
    /\ pc = [p \in Procs |-> "idle"]
    /\ cur = [p \in Procs |-> DefaultSched]
    /\ nextFire = [p \in Procs |-> 0]
    /\ lastFire = [p \in Procs |-> 0]
    /\ prev = [p \in Procs |-> 0]
    /\ evalAt = [p \in Procs |-> 0]
    /\ firedWhilePaused = {}
    /\ notLatest = {}

-----------------------------------------------------------------------------

\* The database clock advances to the next fire time.
Tick ==
    /\ now < MaxTime
    /\ now' = now + 1
    /\ UNCHANGED <<last, paused, jobs, manual, pc, cur, nextFire, lastFire, prev, evalAt,
                   firedWhilePaused, notLatest>>

\* Read an unpaused schedule and plan the fires due after last_enqueued_at:
\* nextFire..lastFire, in order (catch_up), or just the latest (coalesce).
Evaluate(p, s) ==
    /\ pc[p] = "idle"
    /\ ~paused[s]
    /\ last[s] < now
    /\ pc' = [pc EXCEPT ![p] = "firing"]
    /\ cur' = [cur EXCEPT ![p] = s]
    /\ nextFire' = [nextFire EXCEPT ![p] = IF s \in CatchUp THEN last[s] + 1 ELSE now]
    /\ lastFire' = [lastFire EXCEPT ![p] = now]
    /\ prev' = [prev EXCEPT ![p] = last[s]]
    /\ evalAt' = [evalAt EXCEPT ![p] = now]
    /\ UNCHANGED <<now, last, paused, jobs, manual, firedWhilePaused, notLatest>>

\* The process is done with its plan.
GoIdle(p) ==
    /\ pc' = [pc EXCEPT ![p] = "idle"]
    /\ cur' = [cur EXCEPT ![p] = DefaultSched]
    /\ nextFire' = [nextFire EXCEPT ![p] = 0]
    /\ lastFire' = [lastFire EXCEPT ![p] = 0]
    /\ prev' = [prev EXCEPT ![p] = 0]
    /\ evalAt' = [evalAt EXCEPT ![p] = 0]

\* One statement: compare-and-swap last_enqueued_at and insert the job.
Fire(p) ==
    /\ pc[p] = "firing"
    /\ LET s == cur[p]
           t == nextFire[p]
           swapped == /\ (CasOnLast => last[s] = prev[p])
                      /\ (CasOnPaused => ~paused[s])
       IN IF swapped
          THEN /\ last' = [last EXCEPT ![s] = t]
               /\ jobs' = [jobs EXCEPT ![s][t] = IF @ < 2 THEN @ + 1 ELSE 2]
               /\ firedWhilePaused' = IF paused[s] THEN firedWhilePaused \cup {<<s, t>>}
                                      ELSE firedWhilePaused
               /\ notLatest' = IF s \in Coalesce /\ t # evalAt[p]
                               THEN notLatest \cup {<<s, t>>} ELSE notLatest
               /\ IF t = lastFire[p]
                  THEN GoIdle(p)
                  ELSE /\ nextFire' = [nextFire EXCEPT ![p] = t + 1]
                       /\ prev' = [prev EXCEPT ![p] = t]
                       /\ UNCHANGED <<pc, cur, lastFire, evalAt>>
          ELSE \* 0 rows: another process fired it, or the schedule is paused
               /\ GoIdle(p)
               /\ UNCHANGED <<last, jobs, firedWhilePaused, notLatest>>
    /\ UNCHANGED <<now, paused, manual>>

Pause(s) ==
    /\ ~paused[s]
    /\ paused' = [paused EXCEPT ![s] = TRUE]
    /\ UNCHANGED <<now, last, jobs, manual, pc, cur, nextFire, lastFire, prev, evalAt,
                   firedWhilePaused, notLatest>>

Resume(s) ==
    /\ paused[s]
    /\ paused' = [paused EXCEPT ![s] = FALSE]
    /\ UNCHANGED <<now, last, jobs, manual, pc, cur, nextFire, lastFire, prev, evalAt,
                   firedWhilePaused, notLatest>>

\* Run the schedule's job now, outside its fire times.
ManualTrigger(s) ==
    /\ manual[s] < MaxManual
    /\ manual' = [manual EXCEPT ![s] = @ + 1]
    /\ UNCHANGED <<now, last, paused, jobs, pc, cur, nextFire, lastFire, prev, evalAt,
                   firedWhilePaused, notLatest>>

Next ==
    \/ Tick
    \/ \E p \in Procs : Fire(p) \/ \E s \in Schedules : Evaluate(p, s)
    \/ \E s \in Schedules : Pause(s) \/ Resume(s) \/ ManualTrigger(s)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
(* Safety *)

\* Each (schedule, fire time) is enqueued at most once.
NoDoubleFire == \A s \in Schedules : \A t \in Fires : jobs[s][t] <= 1

\* No fire is enqueued while its schedule is paused.
PausedDoesNotFire == firedWhilePaused = {}

\* last_enqueued_at is the latest fire enqueued: it never moves back.
LastIsLatestFire ==
    \A s \in Schedules : \A t \in Fires : jobs[s][t] > 0 => t <= last[s]

\* catch_up: every fire time up to last_enqueued_at was enqueued (none skipped).
CatchUpFiresEach ==
    \A s \in CatchUp : \A t \in 1..last[s] : jobs[s][t] >= 1

\* coalesce: a fire enqueued was the latest due when the schedule was read;
\* the older due fires are skipped for good.
CoalesceFiresLatest == notLatest = {}

\* Manual triggers do not touch last_enqueued_at (checked by the actions);
\* they are counted apart from the fires.
Symmetry == Permutations(Procs)
=============================================================================
