//! The all-sky map of detections, coloured by match class (known, unknown, likely contaminant).
