//! (filled in with the figure)
