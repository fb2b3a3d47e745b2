//! The terminal UI: state machine (`app`), key bindings, pure views and the runtime that owns
//! the terminal and performs effects.

pub mod app;
mod discard_stub;
pub mod keymap;
pub mod runtime;
pub mod strings;
pub mod terminal;
pub mod theme;
pub mod view;
