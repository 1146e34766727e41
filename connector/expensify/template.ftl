<#--
  ml-connector export template. Expensify renders it; connector/expensify/parsing.py reads the
  result; simulators/expensify/render.py mirrors it in Python (a contract test compares both).
  Output (one JSON document, one object per report, expenses inside):
  {"reports": [
    {"reportID": "", "reportName": "", "status": "", "accountEmail": "", "policyID": "",
     "policyName": "", "currency": "", "total": N, "created": "", "submitted": "",
     "approved": "",
     "transactions": [
       {"transactionID": "", "merchant": "", "modifiedMerchant": "", "category": "",
        "categoryGlCode": "", "tag": "", "tagGlCode": "", "currency": "", "amount": N,
        "convertedAmount": N, "modifiedAmount": N, "reimbursable": B, "billable": B,
        "created": "", "modifiedCreated": "", "comment": "", "type": "", "receiptID": ""}]}]}
  Strings: always a JSON string, "" when missing. Numbers (N): printed with ?c, null when
  missing or blank, a JSON string when Expensify sent text (the parser judges it).
  Booleans (B): true/false, false when missing.
  Old-style `_has_next` keeps the template working on older FreeMarker versions.
-->
<#macro s v><#if v?is_number>"${v?c}"<#elseif v?is_boolean>"${v?c}"<#elseif v?is_string>"${v?json_string}"<#else>""</#if></#macro>
<#macro n v><#if v?is_number>${v?c}<#elseif v?is_string && v?has_content>"${v?json_string}"<#else>null</#if></#macro>
<#macro b v><#if v?is_boolean>${v?c}<#elseif v?is_string>${(v == "true")?c}<#else>false</#if></#macro>
{"reports": [
<#list reports![] as report>
{"reportID": <@s report.reportID!""/>,
 "reportName": <@s report.reportName!""/>,
 "status": <@s report.status!""/>,
 "accountEmail": <@s report.accountEmail!""/>,
 "policyID": <@s report.policyID!""/>,
 "policyName": <@s report.policyName!""/>,
 "currency": <@s report.currency!""/>,
 "total": <@n report.total!""/>,
 "created": <@s report.created!""/>,
 "submitted": <@s report.submitted!""/>,
 "approved": <@s report.approved!""/>,
 "transactions": [
<#list report.transactionList![] as expense>
  {"transactionID": <@s expense.transactionID!""/>,
   "merchant": <@s expense.merchant!""/>,
   "modifiedMerchant": <@s expense.modifiedMerchant!""/>,
   "category": <@s expense.category!""/>,
   "categoryGlCode": <@s expense.categoryGlCode!""/>,
   "tag": <@s expense.tag!""/>,
   "tagGlCode": <@s expense.tagGlCode!""/>,
   "currency": <@s expense.currency!""/>,
   "amount": <@n expense.amount!""/>,
   "convertedAmount": <#if expense.convertedAmount??><@n expense.convertedAmount/><#else>null</#if>,
   "modifiedAmount": <#if (expense.modifiedAmount)?has_content><@n expense.modifiedAmount/><#else>null</#if>,
   "reimbursable": <@b expense.reimbursable!false/>,
   "billable": <@b expense.billable!false/>,
   "created": <@s expense.created!""/>,
   "modifiedCreated": <@s expense.modifiedCreated!""/>,
   "comment": <@s expense.comment!""/>,
   "type": <@s expense.type!""/>,
   "receiptID": <@s expense.receiptID!""/>}<#if expense_has_next>,</#if>
</#list>
 ]}<#if report_has_next>,</#if>
</#list>
]}
