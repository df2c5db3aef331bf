# Broken on purpose: the EventBridge design. S3 sends every event to
# EventBridge and a rule for live/ targets the live FIFO queue with one
# fixed MessageGroupId, so every stream shares one group (one segment in
# flight for the whole platform); the Lambda has no live queue.
variable "live_prefix" {
  type    = string
  default = "live/"
}

variable "live_message_group_id" {
  type    = string
  default = "s3-live"
}

resource "aws_s3_bucket" "source" {
  bucket = "source"
}

resource "aws_sqs_queue" "jobs" {
  name = "jobs"
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

resource "aws_lambda_function" "clips" {
  function_name = "clips"
  role          = aws_iam_role.lambda.arn
  environment {
    variables = {
      HLSFLEET_QUEUE_URL = aws_sqs_queue.jobs.url
    }
  }
}

resource "aws_iam_role" "lambda" {
  name = "lambda"
}

resource "aws_s3_bucket_notification" "source" {
  bucket      = aws_s3_bucket.source.id
  eventbridge = true

  lambda_function {
    lambda_function_arn = aws_lambda_function.clips.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "clips/"
  }
}

resource "aws_cloudwatch_event_rule" "live_segments" {
  name = "live-segments"
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      object = { key = [{ prefix = var.live_prefix }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "live_segments" {
  rule = aws_cloudwatch_event_rule.live_segments.name
  arn  = aws_sqs_queue.live.arn

  sqs_target {
    message_group_id = var.live_message_group_id
  }
}
