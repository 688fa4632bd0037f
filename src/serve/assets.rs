//! The page's script, style sheet and icon, compiled into the binary.

pub(crate) const APP_JS: &str = include_str!("assets/app.js");
pub(crate) const STYLE_CSS: &str = include_str!("assets/style.css");
pub(crate) const ICON_SVG: &str = include_str!("assets/icon.svg");
