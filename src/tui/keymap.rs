//! Key bindings: config names (`"j"`, `"ctrl-d"`, `"enter"`) → commands.

use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for, before the app decides what it means in the current mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Next row.
    Down,
    /// Previous row.
    Up,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// One page down.
    PageDown,
    /// One page up.
    PageUp,
    /// Open/close the full detail.
    Detail,
    /// Accept the move.
    Accept,
    /// Skip the move (optional reason).
    Skip,
    /// Snooze the move.
    Snooze,
    /// Execute the primary action.
    Execute,
    /// Approve the draft.
    Approve,
    /// Edit the draft in `$EDITOR`.
    Edit,
    /// Undo the last decision.
    Undo,
    /// Filter the list.
    Filter,
    /// Next view.
    NextView,
    /// Previous view.
    PrevView,
    /// Sync now.
    Sync,
    /// Help overlay.
    Help,
    /// Quit.
    Quit,
}

/// Config action names, in the order the help overlay lists them.
pub const ACTIONS: &[(&str, Command, &str)] = &[
    ("down", Command::Down, "next move"),
    ("up", Command::Up, "previous move"),
    ("top", Command::Top, "first move"),
    ("bottom", Command::Bottom, "last move"),
    ("page_down", Command::PageDown, "page down"),
    ("page_up", Command::PageUp, "page up"),
    ("detail", Command::Detail, "open / close full detail"),
    ("accept", Command::Accept, "accept: commit to it today"),
    ("skip", Command::Skip, "skip (optional reason)"),
    ("snooze", Command::Snooze, "snooze: 1d · 3d · 1w · until reply"),
    ("execute", Command::Execute, "execute the primary action"),
    ("approve", Command::Approve, "approve the draft"),
    ("edit", Command::Edit, "edit the draft in $EDITOR"),
    ("undo", Command::Undo, "undo the last decision"),
    ("filter", Command::Filter, "filter the list"),
    (
        "next_view",
        Command::NextView,
        "next view: Moves · Drafts · Outbox · Stats",
    ),
    ("prev_view", Command::PrevView, "previous view"),
    ("sync", Command::Sync, "sync now"),
    ("help", Command::Help, "this help"),
    ("quit", Command::Quit, "quit"),
];

/// A parsed key chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    code: KeyCode,
    ctrl: bool,
}

impl Chord {
    fn of(ev: &KeyEvent) -> Chord {
        let code = ev.code;
        Chord {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
        }
    }

    /// Parses a config key name.
    pub fn parse(name: &str) -> Option<Chord> {
        let (ctrl, rest) = match name.strip_prefix("ctrl-") {
            Some(r) => (true, r),
            None => (false, name),
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
            _ => return None,
        };
        Some(Chord { code, ctrl })
    }

    /// Display form for hints (`j`, `↓`, `Enter`, `^d`).
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) => c.to_string(),
            _ => "?".into(),
        };
        if self.ctrl { format!("^{base}") } else { base }
    }
}

/// The active bindings.
#[derive(Debug, Clone)]
pub struct Keymap {
    by_chord: HashMap<Chord, Command>,
    by_command: HashMap<Command, Vec<Chord>>,
}

impl Keymap {
    /// Builds the map from `[keys]`; an unknown action, an unparsable key or a key bound twice
    /// is an error `(key, problem)`.
    pub fn from_config(keys: &BTreeMap<String, Vec<String>>) -> Result<Keymap, (String, String)> {
        let mut by_chord = HashMap::new();
        let mut by_command: HashMap<Command, Vec<Chord>> = HashMap::new();
        let mut owner: HashMap<Chord, &str> = HashMap::new();
        for (action, names) in keys {
            let Some((_, cmd, _)) = ACTIONS.iter().find(|(a, _, _)| a == action) else {
                let known: Vec<&str> = ACTIONS.iter().map(|(a, _, _)| *a).collect();
                return Err((
                    action.clone(),
                    format!("unknown action; known: {}", known.join(", ")),
                ));
            };
            for name in names {
                let chord = Chord::parse(name).ok_or_else(|| {
                    (
                        action.clone(),
                        format!("cannot read key {name:?} (try \"x\", \"ctrl-x\", \"enter\")"),
                    )
                })?;
                if let Some(other) = owner.insert(chord, action) {
                    return Err((
                        action.clone(),
                        format!("key {name:?} is already bound to `{other}`"),
                    ));
                }
                by_chord.insert(chord, *cmd);
                by_command.entry(*cmd).or_default().push(chord);
            }
        }
        Ok(Keymap { by_chord, by_command })
    }

    /// The default bindings.
    pub fn defaults() -> Keymap {
        let c = crate::config::Config::default();
        Keymap::from_config(&c.keys).unwrap_or(Keymap {
            by_chord: HashMap::new(),
            by_command: HashMap::new(),
        })
    }

    /// The command a key event is bound to.
    pub fn command(&self, ev: &KeyEvent) -> Option<Command> {
        self.by_chord.get(&Chord::of(ev)).copied()
    }

    /// Labels of the keys bound to a command (`j/↓`).
    pub fn keys_for(&self, cmd: Command) -> String {
        self.by_command
            .get(&cmd)
            .map(|v| v.iter().map(Chord::label).collect::<Vec<_>>().join("/"))
            .unwrap_or_else(|| "(unbound)".into())
    }

    /// The first key bound to a command, for compact hints.
    pub fn key_for(&self, cmd: Command) -> String {
        self.by_command
            .get(&cmd)
            .and_then(|v| v.first())
            .map(Chord::label)
            .unwrap_or_else(|| "-".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn defaults_bind_the_product_keys() {
        let k = Keymap::defaults();
        assert_eq!(
            k.command(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Command::Down)
        );
        assert_eq!(
            k.command(&key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Command::Down)
        );
        assert_eq!(
            k.command(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Command::Bottom)
        );
        assert_eq!(
            k.command(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(k.command(&key(KeyCode::Char('c'), KeyModifiers::NONE)), None);
        assert_eq!(k.keys_for(Command::Down), "j/↓");
    }

    #[test]
    fn conflicts_and_unknowns_are_errors() {
        let mut m = BTreeMap::new();
        m.insert("accept".to_string(), vec!["a".to_string()]);
        m.insert("skip".to_string(), vec!["a".to_string()]);
        assert!(Keymap::from_config(&m).unwrap_err().1.contains("already bound"));
        let mut m = BTreeMap::new();
        m.insert("launch".to_string(), vec!["l".to_string()]);
        assert_eq!(Keymap::from_config(&m).unwrap_err().0, "launch");
        let mut m = BTreeMap::new();
        m.insert("accept".to_string(), vec!["hyper-a".to_string()]);
        assert!(Keymap::from_config(&m).is_err());
    }

    #[test]
    fn rebinding_works() {
        let mut m = BTreeMap::new();
        m.insert(
            "accept".to_string(),
            vec!["ctrl-a".to_string(), "space".to_string()],
        );
        let k = Keymap::from_config(&m).unwrap();
        assert_eq!(
            k.command(&key(KeyCode::Char('a'), KeyModifiers::CONTROL)),
            Some(Command::Accept)
        );
        assert_eq!(
            k.command(&key(KeyCode::Char(' '), KeyModifiers::NONE)),
            Some(Command::Accept)
        );
        assert_eq!(k.keys_for(Command::Accept), "^a/Space");
    }
}
