"""The activity field rules (a pandera schema) and mapping profiles for common exports."""
