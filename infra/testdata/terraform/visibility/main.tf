# Broken on purpose: the queue's visibility timeout and the worker's
# --visibility come from two variables; 120 s < 3 x (300 s / 3).
variable "queue_visibility_seconds" {
  type    = number
  default = 120
}

variable "worker_visibility_seconds" {
  type    = number
  default = 300
}

resource "aws_sqs_queue" "jobs_dlq" {
  name = "jobs-dlq"
}

resource "aws_sqs_queue" "jobs" {
  name                       = "jobs"
  visibility_timeout_seconds = var.queue_visibility_seconds
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}

locals {
  worker_args = [
    "worker",
    "--queue", aws_sqs_queue.jobs.url,
    "--visibility", "${var.worker_visibility_seconds}s",
    "--drain-timeout", "120s",
  ]
}
