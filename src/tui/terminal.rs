//! Owning the terminal: raw mode + alternate screen on entry, restored on quit, on error (the
//! guard's `Drop`) and on panic (ratatui's hook, installed by `try_init`).

use std::io;

use ratatui::DefaultTerminal;

/// Restores the terminal when dropped, whatever path leaves the TUI.
pub struct TerminalGuard {
    /// The terminal to draw on.
    pub terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen; installs the panic hook that restores them.
    pub fn enter() -> io::Result<TerminalGuard> {
        let terminal = ratatui::try_init()?;
        Ok(TerminalGuard { terminal })
    }

    /// Leaves the TUI temporarily (to run `$EDITOR`), then comes back.
    pub fn suspend<T>(&mut self, f: impl FnOnce() -> T) -> io::Result<T> {
        ratatui::restore();
        let out = f();
        self.terminal = ratatui::try_init()?;
        self.terminal.clear()?;
        Ok(out)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
