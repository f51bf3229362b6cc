//! Scenario packs.
