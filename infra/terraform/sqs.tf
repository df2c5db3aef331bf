# Work queues, each with its own DLQ and redrive after var.max_receive_count
# receives. Every work queue's visibility timeout is
# var.visibility_timeout_seconds, the same value the workers get as
# --visibility (see main.tf), so visibility = 3 x the heartbeat interval.

resource "aws_sqs_queue" "jobs_dlq" {
  name                      = "${var.name}-jobs-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${var.name}-jobs"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

resource "aws_sqs_queue" "gpu_dlq" {
  name                      = "${var.name}-gpu-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "gpu" {
  name                       = "${var.name}-gpu"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.gpu_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

# A FIFO queue's DLQ must be FIFO too.
resource "aws_sqs_queue" "live_dlq" {
  name                        = "${var.name}-live-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  message_retention_seconds   = var.dlq_retention_seconds
  sqs_managed_sse_enabled     = true
  tags                        = local.tags
}

resource "aws_sqs_queue" "live" {
  name                        = "${var.name}-live.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  deduplication_scope         = "messageGroup"
  fifo_throughput_limit       = "perMessageGroupId"
  visibility_timeout_seconds  = var.visibility_timeout_seconds
  message_retention_seconds   = var.message_retention_seconds
  receive_wait_time_seconds   = 20
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.live_dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

# Only the queue each DLQ belongs to may redrive into it.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = {
    jobs = { dlq = aws_sqs_queue.jobs_dlq.id, source = aws_sqs_queue.jobs.arn }
    gpu  = { dlq = aws_sqs_queue.gpu_dlq.id, source = aws_sqs_queue.gpu.arn }
    live = { dlq = aws_sqs_queue.live_dlq.id, source = aws_sqs_queue.live.arn }
  }
  queue_url = each.value.dlq
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [each.value.source]
  })
}

# S3 may send upload events to the jobs queue, only from the source bucket.
data "aws_iam_policy_document" "jobs_queue" {
  statement {
    sid       = "S3SourceBucketEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.jobs.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.source.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "jobs" {
  queue_url = aws_sqs_queue.jobs.id
  policy    = data.aws_iam_policy_document.jobs_queue.json
}

# No queue policy on the live queue: only principals of this account send
# to it (the Lambda's role, iam.tf), by their IAM policies.
