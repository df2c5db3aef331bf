# The Lambda from issue C (Dockerfile target `lambda`): S3 events for the
# short-clip prefix; clips up to var.short_clip_seconds are transcoded inside
# the function, longer ones are sent to the jobs (or GPU) queue. S3 events
# for the live prefix become live-segment jobs on the live FIFO queue,
# grouped by stream. The function maps events to jobs with the workers'
# rules (local.worker_rules), so its outputs land where the workers' do.

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${var.name}-clips"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_lambda_function" "clips" {
  function_name = "${var.name}-clips"
  role          = aws_iam_role.lambda.arn
  package_type  = "Image"
  image_uri     = var.lambda_image_uri
  architectures = ["x86_64"]
  timeout       = var.lambda_timeout_seconds
  memory_size   = var.lambda_memory_mb

  ephemeral_storage {
    size = var.lambda_ephemeral_storage_mb
  }

  environment {
    variables = {
      HLSFLEET_QUEUE_URL          = aws_sqs_queue.jobs.url
      HLSFLEET_GPU_QUEUE_URL      = aws_sqs_queue.gpu.url
      HLSFLEET_LIVE_QUEUE_URL     = aws_sqs_queue.live.url
      HLSFLEET_RULES              = jsonencode(local.worker_rules)
      HLSFLEET_SHORT_CLIP_SECONDS = tostring(var.short_clip_seconds)
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy.lambda]
}

# S3 invokes the function asynchronously; Lambda retries twice, then sends
# the invocation record (with the S3 event in requestPayload) to the clips
# DLQ, so a failed clip is never lost silently. Alarmed like the other DLQs.
resource "aws_sqs_queue" "clips_dlq" {
  name                      = "${var.name}-clips-dlq"
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_lambda_function_event_invoke_config" "clips" {
  function_name                = aws_lambda_function.clips.function_name
  maximum_event_age_in_seconds = 3600
  maximum_retry_attempts       = 2

  destination_config {
    on_failure {
      destination = aws_sqs_queue.clips_dlq.arn
    }
  }
}

resource "aws_lambda_permission" "s3_invoke" {
  statement_id   = "AllowSourceBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.clips.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.source.arn
  source_account = local.account_id
}
