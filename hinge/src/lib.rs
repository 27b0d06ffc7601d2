//! hinge
