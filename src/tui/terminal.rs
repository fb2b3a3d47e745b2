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
    ///
    /// Coming back asks the terminal nothing: the key reader runs meanwhile and would take the
    /// answer to a query (the cursor position that `Terminal::clear` asks for), and the query
    /// then failed after two seconds ("The cursor position could not be read…"), losing the
    /// edit. The screen is cleared by an escape sequence and both of ratatui's buffers are
    /// blanked, so the next draw repaints everything.
    pub fn suspend<T>(&mut self, f: impl FnOnce() -> T) -> io::Result<T> {
        ratatui::restore();
        let out = f();
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(
            io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
        )?;
        self.terminal.swap_buffers();
        Ok(out)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
