-- Background redrive jobs of notification-service (POST /admin/deadletters/redrive answers 202 with
-- the job's id; GET /admin/redrives/<id> reads its row).
-- CreateTable
CREATE TABLE "redrive_jobs" (
    "id" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "filter" JSONB NOT NULL,
    "rate" INTEGER NOT NULL,
    "total" INTEGER NOT NULL DEFAULT 0,
    "moved" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "owner" TEXT NOT NULL,
    "cancel_requested" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(6),
    "finished_at" TIMESTAMPTZ(6),
    "heartbeat_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "redrive_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "redrive_jobs_status_idx" ON "redrive_jobs"("status");
