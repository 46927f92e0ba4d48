"""A visit as it stands: its outcome after an amendment, and whether it counts (not rejected in review).

SQL pieces over visits v LEFT JOIN visit_standing vs ON vs.visit_id = v.id, shared by the visits that keep each
household's latest contact and attempt (data/visits) and by the counts of coverage and status that read visits.
"""
STANDING_JOIN = "LEFT JOIN visit_standing vs ON vs.visit_id = v.id"
OUTCOME_NOW = "coalesce(vs.outcome, v.outcome)"
COUNTS = "coalesce(vs.rejected, 0) = 0"
