"""The shared-court network: shared courts, industry mediation, intake flow, terminal services,
governance statistics and open integration (API keys, webhooks, CSV import)."""
