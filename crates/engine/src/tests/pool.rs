//! The warm pool, the memory budget, run slots, health and shutdown on the fake backend.
