-- Each outbox row names the service that wrote it, and each service's relay claims only its own
-- rows, so two services sharing the table never publish each other's events.
-- AlterTable
ALTER TABLE "outbox_events" ADD COLUMN "producer" TEXT;

-- Existing rows: the producer follows from the event type (the only two types ever written).
-- Another type would belong to no relay: it is named so that an operator can find and assign it.
UPDATE "outbox_events"
   SET "producer" = CASE "type"
         WHEN 'user.signed_up' THEN 'signup-service'
         WHEN 'user.profile_updated' THEN 'profile-service'
         ELSE 'unassigned'
       END;

ALTER TABLE "outbox_events" ALTER COLUMN "producer" SET NOT NULL;

-- DropIndex
DROP INDEX "outbox_events_published_at_seq_idx";

-- CreateIndex
-- Serves the relay's claim (producer = $1 AND published_at IS NULL ORDER BY seq), its backlog
-- count and its pruning (producer = $1 AND published_at < ...).
CREATE INDEX "outbox_events_producer_published_at_seq_idx" ON "outbox_events"("producer", "published_at", "seq");
