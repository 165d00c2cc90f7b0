"""News items: drafts, the publish/schedule/withdraw lifecycle, embargoes, corrections."""
