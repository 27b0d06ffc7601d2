//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::cell::Cell;
use std::rc::Rc;

/// Counts how many times values it made were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

/// Increments its counter when dropped; move it into a closure.
pub struct Token(Rc<Cell<usize>>);

impl DropCounter {
    pub fn token(&self) -> Token {
        Token(self.0.clone())
    }
    pub fn dropped(&self) -> usize {
        self.0.get()
    }
}

impl Token {
    /// Uses the token inside a closure, so the closure captures it.
    pub fn touch(&self) {}
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A shared counter for callbacks.
#[derive(Clone, Default)]
pub struct Hits(Rc<Cell<usize>>);

impl Hits {
    pub fn hit(&self) {
        self.0.set(self.0.get() + 1);
    }
    pub fn get(&self) -> usize {
        self.0.get()
    }
}
