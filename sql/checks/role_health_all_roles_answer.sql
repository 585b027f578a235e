-- Roles whose backend did not answer a one-line chat call.
-- severity: warn
SELECT role, backend, model, error
FROM core.role_health
WHERE NOT ok
