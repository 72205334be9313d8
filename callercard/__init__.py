"""callercard: caller identification for a support line."""
