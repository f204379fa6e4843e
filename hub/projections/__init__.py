"""Read models written as pure folds over an elder's events.

The live read model applies them incrementally; an audit replays the same folds over the events
recorded up to a moment, so "as of T" and "now" can never disagree in logic.
"""
