//! Why an outbound message body breaks one of Meta's rules.

/// Why an [`super::OutboundContent`] cannot be sent. Each variant has a stable machine [`code`](Self::code);
/// the human message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// A required text is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Which part of the message, e.g. `text.body`.
        field: &'static str,
    },
    /// A text is longer than Meta allows.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// Which part of the message, e.g. `image.caption`.
        field: &'static str,
        /// Meta's limit, in characters.
        max: usize,
    },
    /// Media must name exactly one of an uploaded media `id` or a `link`.
    #[error("{kind} media needs exactly one of id or link")]
    MediaSource {
        /// The media kind (`image`, `video`, …).
        kind: &'static str,
    },
    /// A media link that is not an http(s) URL.
    #[error("{kind} media link must be an http:// or https:// URL")]
    MediaLink {
        /// The media kind (`image`, `video`, …).
        kind: &'static str,
    },
    /// Audio and stickers (and interactive headers) carry no caption.
    #[error("{kind} media cannot carry a caption")]
    CaptionNotAllowed {
        /// The media kind.
        kind: &'static str,
    },
    /// Only documents carry a filename.
    #[error("{kind} media cannot carry a filename (only documents do)")]
    FilenameNotAllowed {
        /// The media kind.
        kind: &'static str,
    },
    /// A reply-buttons message has 1 to 3 buttons.
    #[error("a reply-buttons message needs 1 to 3 buttons, not {0}")]
    ButtonCount(usize),
    /// Reply-button titles must differ.
    #[error("reply-button titles must be unique; '{0}' repeats")]
    DuplicateButtonTitle(String),
    /// Reply-button ids must differ.
    #[error("reply-button ids must be unique; '{0}' repeats")]
    DuplicateButtonId(String),
    /// A list message has 1 to 10 sections.
    #[error("a list message needs 1 to 10 sections, not {0}")]
    SectionCount(usize),
    /// A list message has 1 to 10 rows across all its sections, and no empty section.
    #[error("a list message needs 1 to 10 rows in all and at least one per section (found {0})")]
    RowCount(usize),
    /// List row ids must differ.
    #[error("list row ids must be unique; '{0}' repeats")]
    DuplicateRowId(String),
    /// A list with more than one section needs a title on each.
    #[error("every section of a list with several sections needs a title")]
    SectionTitleRequired,
    /// The header kind is not allowed on this message (lists take text headers only).
    #[error("a {0} header is not allowed on this message")]
    HeaderNotAllowed(&'static str),
    /// An interactive message of another type must still name a type (other than `button`/`list`,
    /// which have their own shapes).
    #[error("an interactive message needs a JSON object with a 'type' other than button or list")]
    InteractiveType,
    /// Latitude must be within ±90 and longitude within ±180.
    #[error("latitude must be within -90..90 and longitude within -180..180")]
    Coordinates,
    /// Broadcasts send approved templates only.
    #[error("a broadcast sends template messages only")]
    TemplateRequired,
    /// A contacts message needs JSON objects, at least one.
    #[error("a contacts message needs at least one contact, each a JSON object")]
    Contacts,
}

impl ContentError {
    /// The stable machine code, e.g. `content_too_long`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "content_empty",
            Self::TooLong { .. } => "content_too_long",
            Self::MediaSource { .. } => "media_source_invalid",
            Self::MediaLink { .. } => "media_link_invalid",
            Self::CaptionNotAllowed { .. } => "caption_not_allowed",
            Self::FilenameNotAllowed { .. } => "filename_not_allowed",
            Self::ButtonCount(_) => "button_count",
            Self::DuplicateButtonTitle(_) => "duplicate_button_title",
            Self::DuplicateButtonId(_) => "duplicate_button_id",
            Self::SectionCount(_) => "section_count",
            Self::RowCount(_) => "row_count",
            Self::DuplicateRowId(_) => "duplicate_row_id",
            Self::SectionTitleRequired => "section_title_required",
            Self::HeaderNotAllowed(_) => "header_not_allowed",
            Self::InteractiveType => "interactive_type_invalid",
            Self::Coordinates => "location_invalid",
            Self::Contacts => "contacts_invalid",
            Self::TemplateRequired => "template_required",
        }
    }
}

/// Refuses an empty `value` (after trimming) or one longer than `max` characters.
pub(super) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), ContentError> {
    if value.trim().is_empty() {
        return Err(ContentError::Empty { field });
    }
    check_max(field, value, max)
}

/// Refuses a `value` longer than `max` characters (Meta counts characters, not bytes).
pub(super) fn check_max(field: &'static str, value: &str, max: usize) -> Result<(), ContentError> {
    if value.chars().count() > max {
        return Err(ContentError::TooLong { field, max });
    }
    Ok(())
}
