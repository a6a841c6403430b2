---------------------------- MODULE TraceAwaCore ----------------------------
(***************************************************************************)
(* Trace validation: is a trace the runtime recorded a behaviour of        *)
(* AwaCore?                                                                *)
(*                                                                         *)
(* The runtime writes one NDJSON line per action it performed, after the   *)
(* action's transaction committed ($AWA_SPEC_TRACE, see                    *)
(* awa/_runtime/spec_trace.py).  tools/trace_check.py turns such a file    *)
(* into the module TraceData (the events as the sequence Trace, job ids    *)
(* and worker names abstracted to "j1", "w1", ...; the constants below)    *)
(* and runs TLC on this module.                                            *)
(*                                                                         *)
(* Each logged event must be matched by one step of AwaCore's Next with    *)
(* the same action and parameters (job, worker, lease token; the new       *)
(* lease and attempt of a claim; the state a rescue chose).  Between two   *)
(* events any number of steps the runtime does not log may happen: a      *)
(* client inserts a job, a heartbeat goes stale, a process dies.  A        *)
(* "Promote" line says how many jobs one promoter pass moved; the          *)
(* converter writes one event per job, matched by Promote(j) of any j.     *)
(*                                                                         *)
(* TLC explores every way of interleaving the hidden steps.  The trace is  *)
(* a behaviour of AwaCore exactly when some state has consumed all of it,  *)
(* so the check asks TLC to find a state violating TraceNotConsumed:       *)
(*    counterexample found   = the trace is accepted,                      *)
(*    no error               = no behaviour of AwaCore explains the trace. *)
(***************************************************************************)
EXTENDS AwaCore, TraceData, Sequences

VARIABLE
    \* @type: Int;
    consumed   \* how many events of Trace have been matched

traceVars == <<vars, consumed>>

\* The attempt an event speaks for: the worker's live hold on this token.
HeldBy(e) == [job |-> e.job, lease |-> e.lease, worker |-> e.worker, phase |-> "exec"]

\* One logged event, matched by one step of AwaCore with its parameters.
Logged(e) ==
    CASE e.action = "Claim" ->
            /\ Claim(e.worker, e.job)
            /\ lease'[e.job] = e.lease
            /\ attempt'[e.job] = e.attempt
      [] e.action = "Heartbeat" -> Heartbeat(e.worker, HeldBy(e))
      [] e.action = "LeaseLost" -> LeaseLost(e.worker, HeldBy(e))
      [] e.action = "Complete" -> Complete(e.worker, HeldBy(e))
      [] e.action = "Retry" -> Retry(e.worker, HeldBy(e))
      [] e.action = "Snooze" -> Snooze(e.worker, HeldBy(e))
      [] e.action = "Fail" -> Fail(e.worker, HeldBy(e))
      [] e.action = "HandlerCancel" -> HandlerCancel(e.worker, HeldBy(e))
      [] e.action = "HandBack" -> HandBack(e.worker, HeldBy(e))
      [] e.action = "FinalizeRejected" -> FinalizeRejected(e.worker, HeldBy(e))
      [] e.action = "RescueStale" ->
            /\ lease[e.job] = e.lease
            /\ RescueStale(e.job)
            /\ state'[e.job] = e.state
      [] e.action = "RescueDeadline" ->
            /\ lease[e.job] = e.lease
            /\ RescueDeadline(e.job)
            /\ state'[e.job] = e.state
      [] e.action = "Promote" -> \E j \in Jobs : Promote(j)
      [] e.action = "AdminCancel" ->
            /\ lease[e.job] = e.lease
            /\ state[e.job] = e.state
            /\ AdminCancel(e.job)
      [] e.action = "AdminRetry" ->
            /\ lease[e.job] = e.lease
            /\ state[e.job] = e.state
            /\ AdminRetry(e.job)

\* Steps nobody logs: a client inserts, time makes a heartbeat stale, a
\* process is killed (a killed process's name never appears again).
Hidden ==
    /\ consumed' = consumed
    /\ \/ \E j \in Jobs : Insert(j) \/ HeartbeatMissed(j)
       \/ \E w \in Workers : Crash(w)

TraceInit == Init /\ consumed = 0

TraceNext ==
    \/ /\ consumed < Len(Trace)
       /\ Logged(Trace[consumed + 1])
       /\ consumed' = consumed + 1
    \/ Hidden

TraceSpec == TraceInit /\ [][TraceNext]_traceVars

\* Violated exactly when the whole trace has been matched (see the header).
TraceNotConsumed == consumed < Len(Trace)
=============================================================================
