# Broken on purpose: gpu has no redrive policy, the FIFO live queue
# redrives to a standard DLQ, jobs has maxReceiveCount 0.
resource "aws_sqs_queue" "jobs_dlq" {
  name                      = "jobs-dlq"
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue" "jobs" {
  name = "jobs"
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 0
  })
}

resource "aws_sqs_queue" "gpu" {
  name = "gpu"
}

resource "aws_sqs_queue" "live" {
  name       = "live.fifo"
  fifo_queue = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}
