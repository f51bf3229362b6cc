//! The case closed loop (事件闭环): stages and transitions, time limits on a
//! work calendar, and the evaluation indicators computed from case statistics.
