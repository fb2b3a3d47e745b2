//! Colours. `mono` (or `NO_COLOR`) draws with modifiers only.

use ratatui::style::{Color, Modifier, Style};

/// Styles used by the views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    /// Normal text.
    pub text: Style,
    /// Secondary text.
    pub dim: Style,
    /// Titles and the header.
    pub title: Style,
    /// The selected row.
    pub selected: Style,
    /// Filled part of the APS bar.
    pub bar: Style,
    /// Positive contributions.
    pub good: Style,
    /// Negative contributions and warnings.
    pub warn: Style,
    /// Errors.
    pub error: Style,
    /// The DEMO badge.
    pub badge: Style,
    /// Key names in hints.
    pub key: Style,
}

impl Theme {
    /// A theme by config name; `no_color` forces mono.
    pub fn named(name: &str, no_color: bool) -> Theme {
        if no_color || name == "mono" {
            return Theme::mono();
        }
        let light = name == "light";
        let fg = if light { Color::Black } else { Color::Gray };
        Theme {
            text: Style::new().fg(fg),
            dim: Style::new().fg(Color::DarkGray),
            title: Style::new()
                .fg(if light { Color::Blue } else { Color::Cyan })
                .add_modifier(Modifier::BOLD),
            selected: Style::new()
                .bg(if light {
                    Color::LightBlue
                } else {
                    Color::Rgb(40, 52, 72)
                })
                .add_modifier(Modifier::BOLD),
            bar: Style::new().fg(if light { Color::Blue } else { Color::LightCyan }),
            good: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            error: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            badge: Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            key: Style::new()
                .fg(if light {
                    Color::Magenta
                } else {
                    Color::LightMagenta
                })
                .add_modifier(Modifier::BOLD),
        }
    }

    /// No colours at all.
    pub fn mono() -> Theme {
        Theme {
            text: Style::new(),
            dim: Style::new().add_modifier(Modifier::DIM),
            title: Style::new().add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            bar: Style::new(),
            good: Style::new(),
            warn: Style::new().add_modifier(Modifier::BOLD),
            error: Style::new().add_modifier(Modifier::BOLD),
            badge: Style::new().add_modifier(Modifier::REVERSED),
            key: Style::new().add_modifier(Modifier::BOLD),
        }
    }
}
