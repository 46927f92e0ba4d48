"""The words the demo draws from: names, places, and what members write on visits and requests."""

SURNAMES = ("王王王李李李张张张刘刘陈陈陈杨杨赵黄黄周周吴吴徐徐孙胡朱朱高林何郭马罗梁宋郑谢韩唐冯"
            "于董程曹袁邓许傅沈沈曾彭吕苏卢蒋蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹金金陆"
            "郝孔崔康毛邱秦江史顾侯邵孟钱钱汤俞俞楼应屠童柴舒裘")
GIVEN = {
    "m": "伟刚勇毅俊峰强军平东文辉力明永健志兴良海山波宁福生龙国学祥发新利清飞彬富顺杰涛成康光"
         "达安中进林坚和博诚震振磊民友浩亮政宏斌栋鹏泽晨建家德雄钧航宇轩睿浩然子豪一鸣",
    "f": "秀娟英华慧巧美娜静淑惠翠雅芝玉萍红玲芬芳燕彩春菊兰凤洁梅琳云莲雪荣霞香月艳佳嘉琼珍莉"
         "叶璐晶妍倩婷颖露瑶怡丹蓉君琴薇梦岚馨悦欣晓芸菲雨涵可思诗",
}
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "157", "158", "159", "180", "181", "182", "183", "186", "187", "188",
                   "189", "191", "193", "198", "199")
COMPOUNDS = ("翠苑", "古荡", "文三", "益乐", "嘉绿", "府苑", "学院", "华星", "竞舟", "文新", "申花",
             "西溪", "骆家庄", "花园", "桂花", "枫华")
VILLAGES = ("龙坞", "桐坞", "茶坞", "上城埭", "何家", "大清", "外桐坞", "慈母桥", "西山", "叶埠桥")

VISIT_NOTES = ("身体状况良好，无特殊需求", "了解家庭近况，一切正常", "宣传垃圾分类和反诈知识",
               "提醒注意用电用气安全", "老人血压偏高，提醒按时服药", "子女在外地工作，老人精神不错",
               "发放防诈骗宣传册", "聊了家常，对社区工作满意", "告知社区老年食堂开放时间",
               "提醒电动车不要在楼道充电")
NOBODY_HOME_NOTES = ("敲门无人应答，已留联系卡", "邻居说白天上班，改晚上再来")
NO_ANSWER_NOTES = ("电话联系未接通", "打了两次电话无人接听")
DECLINED_NOTES = ("居民表示不需要上门，有事会联系社区", "居民不便开门，隔门交流了几句")
MET_ELSEWHERE_NOTES = ("在小区门口遇到，聊了几句", "在社区老年活动室遇到", "在菜场遇到，了解了近况")
PHONE_CALL_NOTES = ("电话联系，居民在外地子女家", "电话了解近况，一切正常", "电话提醒近期天气变化注意保暖")
NO_LOCATION_REASONS = ("定位权限未开启", "地下室没有信号，无法定位", "定位超时")
# category: (descriptions, resolutions, referrals that fit)
REQUEST_TEXTS = {
    "employment": (("孩子大学毕业半年还没找到工作，想了解社区招聘信息", "下岗后想参加技能培训，咨询培训补贴",
                    "想在附近找保洁或家政工作"),
                   ("已推荐参加街道招聘会并登记求职意向", "已帮助报名职业技能培训班"),
                   ("trade_union", "affairs_center", "youth_league")),
    "medical": (("咨询医保报销政策", "老人行动不便，希望家庭医生上门随访", "慢性病每月要去医院配药，想了解长处方"),
                ("已联系社区卫生服务中心签约家庭医生", "已讲解医保报销流程并发放宣传资料"),
                ("health_center",)),
    "elderly_care": (("独居老人希望申请助餐服务", "想为老人申请居家养老服务补贴", "老人希望安装紧急呼叫设备"),
                     ("已为老人登记社区老年食堂助餐", "已协助提交居家养老服务补贴申请"),
                     ("health_center", "affairs_center")),
    "housing": (("楼顶漏水，雨天家里墙面发霉", "想了解老旧小区加装电梯的进度", "外墙瓷砖松动，担心掉落伤人"),
                ("已联系物业完成屋面防水修补", "已向加梯工作组反映并答复进度"),
                ("affairs_center",)),
    "sanitation": (("楼道灯坏了，老人晚上出门不方便", "楼道堆放杂物，存在消防隐患",
                    "垃圾分类投放点异味大，希望增加清运次数", "绿化带积水，蚊虫多"),
                   ("已报物业更换楼道灯", "已组织清理楼道堆物", "已协调增加清运频次"),
                   ("affairs_center",)),
    "public_security": (("单元门禁坏了，陌生人随意进出", "夜间有人把电动车推进楼道充电", "小区东门监控有盲区"),
                        ("已联系物业修复门禁", "已劝导住户到集中充电点充电"),
                        ("affairs_center",)),
    "dispute": (("楼上漏水到楼下，两家协商不成", "邻居装修噪音影响休息", "停车位使用发生纠纷"),
                ("已组织双方调解，达成维修协议", "已协调装修时间并告知双方"),
                ("womens_federation", "affairs_center")),
    "policy": (("咨询低保申请条件", "咨询新生儿落户和参保手续", "咨询退役军人优待证办理", "咨询高龄津贴申领"),
               ("已讲解政策并指导网上申请", "已告知所需材料及受理窗口"),
               ("affairs_center", "party_center")),
    "other": (("希望社区多组织老年人文体活动", "孩子暑假想参加社区托管班", "想加入社区志愿者队伍"),
              ("已登记并告知活动安排", "已推荐加入社区志愿服务队"),
              ("culture_center", "youth_league", "party_center")),
}
CATEGORY_WEIGHTS = {"employment": 6, "medical": 14, "elderly_care": 12, "housing": 10, "sanitation": 22,
                    "public_security": 6, "dispute": 6, "policy": 18, "other": 6}
PROGRESS_NOTES = ("已联系物业，等待上门处理", "已电话回复居民，正在协调", "已上报街道相关科室")
REFERRAL_LABELS = {"affairs_center": "社区事务受理中心", "culture_center": "社区文化活动中心",
                   "party_center": "党员服务中心", "health_center": "社区卫生服务中心",
                   "trade_union": "工会", "youth_league": "共青团", "womens_federation": "妇联"}

# The register's life: relations to the head of the household, where people moved, why a change was made.
RELATIONS = ("户主", "配偶", "子女", "父母", "孙辈")
MOVED_TO = ("杭州市余杭区", "杭州市滨江区", "杭州市拱墅区", "上海市浦东新区", "宁波市鄞州区", "绍兴市柯桥区",
            "江苏省苏州市", "广东省深圳市", "本社区其他小区")
CHANGE_REASONS = {
    "deceased": ("因病去世", "老人在医院去世，家属告知"),
    "child_moved_out": ("结婚后搬出另住", "工作调动，搬到外地", "在外地买房，已搬走"),
    "household_moved_out": ("全家搬走，房屋出售", "全家搬到子女家居住", "租户退租搬走"),
    "widowed": ("配偶去世后独自居住",),
    "new_head": ("原户主去世，变更户主",),
    "newborn": ("新生儿出生，入户登记",),
    "child_back": ("子女搬回同住",),
    "child_back_tag": ("子女搬回同住，不再独居",),
    "left_behind_started": ("父母外出务工，孩子由祖辈照看",),
    "left_behind_ended": ("父母返乡工作，孩子随父母生活",),
    "low_income_started": ("低保申请审批通过",),
    "low_income_ended": ("家庭收入提高，低保停发",),
    "disabled_started": ("新办理残疾人证",),
    "party_member_started": ("组织关系转入本社区",),
    "phone": ("居民更换了手机号码", "原号码已停用，居民提供新号码"),
    "name": ("姓名有错别字，按户口本更正",),
    "phone_by_leader": ("居民来电告知新号码",),
}
# The leader's review of doubtful visits (and of sensitive changes): questions by what made a visit doubtful,
# the member's answers, and the decisions.
REVIEW_QUESTIONS = {"off_site": "定位离住户较远，请说明在哪里走访的", "imprecise": "定位精度较差，请说明走访情况",
                    "no_location": "这次走访没有定位，请说明原因", "late": "走访一天后才提交，请说明情况",
                    "burst": "十分钟内连续登记多户，请说明走访情况"}
REVIEW_ANSWERS = {"off_site": "在小区外遇到居民，当面交谈的", "imprecise": "楼道里信号差，定位不准",
                  "no_location": "手机定位权限被关了，已重新打开", "late": "当时手机没有网络，回家后才提交",
                  "burst": "在楼下集中遇到这几户居民，逐户交谈过"}
REJECTED_ANSWER = "这户当时没见到人，误选了见到"
REVIEW_NOTES = {"accept": ("已核实", "情况属实"), "reject": ("未实际见面，本次不计入走访",),
                "keep": ("已电话核实，以居民来电登记的号码为准",), "apply": ("已与居民核实，采用走访登记的号码",),
                "accept_change": ("已核实", "已与家属核实")}
