# Least privilege: every statement names its buckets, queues, log groups,
# repositories or ASGs. The few actions AWS does not scope to a resource
# (ecr:GetAuthorizationToken, autoscaling:DescribeAutoScalingInstances,
# cloudwatch:PutMetricData) are the only ones on "*", the last limited by a
# namespace condition. No statement allows a wildcard action.

locals {
  work_queue_arns = [aws_sqs_queue.jobs.arn, aws_sqs_queue.gpu.arn, aws_sqs_queue.live.arn]
  dlq_arns        = [aws_sqs_queue.jobs_dlq.arn, aws_sqs_queue.gpu_dlq.arn, aws_sqs_queue.live_dlq.arn]
  asg_arns = [
    for n in [local.cpu_asg_name, local.gpu_asg_name] :
    "arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${n}"
  ]
  kms_key_arns = var.kms_key_arn != "" ? [var.kms_key_arn] : []
}

# --- worker instances ----------------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name}-worker"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name}-worker"
  role = aws_iam_role.worker.name
  tags = local.tags
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid = "WorkQueues"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]
    resources = local.work_queue_arns
  }

  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = local.dlq_arns
  }

  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.source.arn}/*"]
  }

  statement {
    sid       = "ListSources"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn]
  }

  statement {
    sid = "WriteOutputs"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.output.arn}/*"]
  }

  statement {
    sid       = "ListOutputs"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.output.arn]
  }

  statement {
    sid = "LifecycleOfOwnASGs"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
      "autoscaling:SetInstanceProtection",
    ]
    resources = local.asg_arns
  }

  statement {
    sid       = "DescribeOwnInstance"
    actions   = ["autoscaling:DescribeAutoScalingInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "PublishBacklogMetric"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["hlsfleet"]
    }
  }

  statement {
    sid       = "WorkerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.workers.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [local.ecr_repository_arns] : []
    content {
      sid       = "PullWorkerImages"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.kms_key_arns) > 0 ? [local.kms_key_arns] : []
    content {
      sid       = "BucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "hlsfleet-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# --- Lambda ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "QueueLongClips"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.jobs.arn, aws_sqs_queue.gpu.arn]
  }

  statement {
    sid       = "QueueLiveSegments"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.live.arn]
  }

  statement {
    sid       = "ReadSources"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.source.arn}/*"]
  }

  statement {
    sid       = "ListSources"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.source.arn]
  }

  statement {
    sid = "WriteOutputs"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.output.arn}/*"]
  }

  statement {
    sid       = "ListOutputs"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.output.arn]
  }

  statement {
    sid       = "FailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.clips_dlq.arn]
  }

  statement {
    sid       = "LambdaLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.kms_key_arns) > 0 ? [local.kms_key_arns] : []
    content {
      sid       = "BucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "hlsfleet-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
