"""Pure analysis code: estimators, calibration, clustering steps, label-free metrics, LLM-call
plans and figures. Nothing here imports dagster or the warehouse: assets call it on frames and
arrays they read, and the app and benches import it directly."""
