# Valid: S3 notifies the standard jobs queue of live objects and the worker
# reading it forwards them to the live FIFO queue (--live-queue), grouped
# by stream. checkLive accepts this route as well as the Lambda's.
variable "live_prefix" {
  type    = string
  default = "live/"
}

resource "aws_s3_bucket" "source" {
  bucket = "source"
}

resource "aws_sqs_queue" "jobs_dlq" {
  name = "jobs-dlq"
}

resource "aws_sqs_queue" "jobs" {
  name = "jobs"
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "live_dlq" {
  name       = "live-dlq.fifo"
  fifo_queue = true
}

resource "aws_sqs_queue" "live" {
  name       = "live.fifo"
  fifo_queue = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.live_dlq.arn
    maxReceiveCount     = 5
  })
}

locals {
  vod_worker_args  = ["worker", "--queue", aws_sqs_queue.jobs.url, "--live-queue", aws_sqs_queue.live.url]
  live_worker_args = ["worker", "--queue", aws_sqs_queue.live.url]
}

resource "aws_s3_bucket_notification" "source" {
  bucket = aws_s3_bucket.source.id

  queue {
    queue_arn     = aws_sqs_queue.jobs.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.live_prefix
  }
}
